"""Daily market data as the index engine reads it: dense dates x symbols tables and
sparse per-date events (dividends, splits, holdings snapshots)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import numpy.typing as npt

__all__ = ["Event", "HoldingsSnapshot", "Panel", "Record", "as_dates", "to_date"]

FloatArray = npt.NDArray[np.float64]
DateArray = npt.NDArray[np.datetime64]

Record = tuple[date, str, float]


def as_dates(values: Sequence[date] | DateArray) -> DateArray:
    """Calendar dates as a numpy `datetime64[D]` array."""
    return np.asarray(values, dtype="datetime64[D]")


def to_date(value: np.datetime64) -> date:
    result = value.astype("datetime64[D]").item()
    assert isinstance(result, date)
    return result


@dataclass(frozen=True, eq=False)
class Panel:
    """One daily field (close, shares outstanding, ...) for many symbols.

    `values[t, i]` is the value of `symbols[i]` on `dates[t]`; NaN means "no observation".
    Dates are strictly increasing and symbols unique.
    """

    dates: DateArray
    symbols: tuple[str, ...]
    values: FloatArray

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape != (len(self.dates), len(self.symbols)):
            raise ValueError(
                f"values shape {self.values.shape} does not match "
                f"{len(self.dates)} dates x {len(self.symbols)} symbols"
            )
        if len(self.dates) > 1 and not bool(np.all(self.dates[1:] > self.dates[:-1])):
            raise ValueError("panel dates must be strictly increasing")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("panel symbols must be unique")

    @classmethod
    def from_records(cls, records: Iterable[Record], *, field_name: str = "value") -> Panel:
        """Build from (date, symbol, value) rows; a repeated (date, symbol) is an error."""
        rows = list(records)
        if not rows:
            raise ValueError(f"no {field_name} rows")
        dates = sorted({r[0] for r in rows})
        symbols = sorted({r[1] for r in rows})
        date_pos = {d: k for k, d in enumerate(dates)}
        symbol_pos = {s: k for k, s in enumerate(symbols)}
        values = np.full((len(dates), len(symbols)), np.nan)
        seen: set[tuple[date, str]] = set()
        for day, symbol, value in rows:
            if (day, symbol) in seen:
                raise ValueError(f"{field_name}: more than one row for {symbol} on {day}")
            seen.add((day, symbol))
            values[date_pos[day], symbol_pos[symbol]] = value
        return cls(dates=as_dates(dates), symbols=tuple(symbols), values=values)

    def column(self, symbol: str) -> int:
        return self.symbols.index(symbol)


@dataclass(frozen=True)
class Event:
    """A per-share event on its ex-date: a cash dividend `amount` or a split `ratio`
    (new shares per old share, so a 4-for-1 split has ratio 4)."""

    day: date
    symbol: str
    value: float


@dataclass(frozen=True)
class HoldingsSnapshot:
    """A portfolio's complete holdings (quantity per symbol) as of a date."""

    as_of: date
    quantities: Mapping[str, float] = field(default_factory=dict)
