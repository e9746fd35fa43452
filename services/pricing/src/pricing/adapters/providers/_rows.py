"""Turning one provider row (numbers possibly strings or nulls) into a PriceBar, or into a
SkippedRow saying why not, the series' FetchResult, plus the date-range chunking several
providers need."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pricing.domain.bars import (
    ActionType,
    CorporateAction,
    FetchResult,
    Interval,
    PriceBar,
    PriceBasis,
    SkippedRow,
)
from pricing.domain.timestamps import daily_trading_date, local_date, parse_number


@dataclass(frozen=True, slots=True)
class OhlcvKeys:
    """The keys one provider's row keeps its open, high, low, close and volume under."""

    open: str
    high: str
    low: str
    close: str
    volume: str


LETTER_KEYS = OhlcvKeys("o", "h", "l", "c", "v")  # Alpaca, Polygon
WORD_KEYS = OhlcvKeys("open", "high", "low", "close", "volume")  # Twelve Data, FMP, files


@dataclass
class SeriesBuilder:
    """Collects bars of one symbol from one provider; rows with a missing price are kept
    as skipped rows, a missing volume counts as 0 (indices carry none)."""

    symbol: str
    provider: str
    interval: Interval
    synthetic: bool = False
    bars: list[PriceBar] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)

    def add(
        self,
        *,
        position: str,
        trading_date: date,
        ts: datetime | None,
        open: object,
        high: object,
        low: object,
        close: object,
        volume: object,
        adj_close: object = None,
        is_partial: bool = False,
    ) -> None:
        o, h, lo, c = (parse_number(v) for v in (open, high, low, close))
        if o is None or h is None or lo is None or c is None:
            self.skipped.append(SkippedRow(position=position, reason="missing_price"))
            return
        self.bars.append(
            PriceBar(
                symbol=self.symbol,
                trading_date=trading_date,
                open=o,
                high=h,
                low=lo,
                close=c,
                volume=parse_number(volume) or 0.0,
                provider=self.provider,
                interval=self.interval,
                ts=ts if self.interval.is_intraday else None,
                adj_close=parse_number(adj_close),
                is_partial=is_partial,
                synthetic=self.synthetic,
            )
        )

    def add_row(
        self,
        row: Mapping[str, Any],
        keys: OhlcvKeys,
        *,
        position: str,
        trading_date: date,
        ts: datetime | None,
        adj_close: object = None,
    ) -> None:
        """One provider row whose prices and volume sit under `keys`."""
        self.add(
            position=position,
            trading_date=trading_date,
            ts=ts,
            open=row.get(keys.open),
            high=row.get(keys.high),
            low=row.get(keys.low),
            close=row.get(keys.close),
            volume=row.get(keys.volume),
            adj_close=adj_close,
        )

    def trading_date_of(self, instant: datetime, timezone_name: str) -> date:
        """The session date of a bar stamped `instant`: the exchange-local date of an
        intraday bar, the trading date of a daily bar (stamped at open or midnight)."""
        if self.interval.is_intraday:
            return local_date(instant, timezone_name)
        return daily_trading_date(instant, timezone_name)

    def ascending(self) -> list[PriceBar]:
        """Bars oldest first: AV, FMP and Twelve Data send newest first."""
        return sorted(self.bars, key=lambda b: (b.trading_date, b.ts.timestamp() if b.ts else 0))

    def result(
        self,
        *,
        basis: PriceBasis,
        currency: str | None = None,
        exchange_timezone: str | None = None,
        bars: Sequence[PriceBar] | None = None,
        actions: Iterable[CorporateAction] = (),
        notes: tuple[str, ...] = (),
    ) -> FetchResult:
        """The collected series as a result; `bars` replaces `ascending()` when the
        provider had to fix the series up (a partial last bar, a repeated live row)."""
        return FetchResult(
            symbol=self.symbol,
            provider=self.provider,
            interval=self.interval,
            bars=tuple(self.ascending() if bars is None else bars),
            actions=tuple(sorted(actions, key=lambda a: a.ex_date)),
            basis=basis,
            currency=currency,
            exchange_timezone=exchange_timezone,
            skipped=tuple(self.skipped),
            synthetic=self.synthetic,
            notes=notes,
        )


def merge_results(parts: Iterable[FetchResult]) -> FetchResult:
    """Join chunked results of one symbol, first occurrence of a bar or action winning."""
    items = list(parts)
    if not items:
        raise ValueError("nothing to merge")
    first = items[0]
    bars: dict[date | datetime, PriceBar] = {}
    actions: dict[tuple[ActionType, date], CorporateAction] = {}
    skipped: list[SkippedRow] = []
    for part in items:
        for bar in part.bars:
            bars.setdefault(bar.key, bar)
        for action in part.actions:
            actions.setdefault((action.type, action.ex_date), action)
        skipped.extend(part.skipped)
    ordered = sorted(bars.values(), key=lambda b: (b.trading_date, b.ts.timestamp() if b.ts else 0))
    return FetchResult(
        symbol=first.symbol,
        provider=first.provider,
        interval=first.interval,
        bars=tuple(ordered),
        actions=tuple(sorted(actions.values(), key=lambda a: a.ex_date)),
        basis=first.basis,
        currency=first.currency,
        exchange_timezone=first.exchange_timezone,
        skipped=tuple(skipped),
        synthetic=first.synthetic,
    )


def date_chunks(start: date, end: date, days: int) -> Iterator[tuple[date, date]]:
    """start..end (inclusive) in windows of at most `days` days."""
    cursor = start
    while cursor <= end:
        stop = min(end, cursor + timedelta(days=days - 1))
        yield cursor, stop
        cursor = stop + timedelta(days=1)
