"""Bars from a local directory in the `ohlcv/<symbol>/<timeframe>/` layout, each folder
holding CSV and/or Parquet files with date-or-timestamp, open, high, low, close,
[adj_close], volume columns (header names are matched case-insensitively)."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pricing.adapters.providers._rows import WORD_KEYS, SeriesBuilder
from pricing.domain.bars import FetchResult, Interval, PriceBasis
from pricing.domain.errors import InvalidData, ProviderError
from pricing.domain.timestamps import parse_local, zone

NAME = "local"

_TIME_COLUMNS = ("date", "datetime", "timestamp", "ts", "time", "t")
_ADJ_COLUMNS = ("adj_close", "adj close", "adjclose", "adjusted_close")
_TIMEFRAME_DIRS = {
    Interval.M1: ("1m", "1min", "minute"),
    Interval.M5: ("5m", "5min"),
    Interval.M15: ("15m", "15min"),
    Interval.M30: ("30m", "30min"),
    Interval.H1: ("1h", "60m", "hour"),
    Interval.D1: ("1d", "1day", "daily", "day"),
}


def _pick(row: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if name in row:
            return row[name]
    return None


def _when(value: Any, tz: str) -> tuple[date, datetime | None]:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=zone(tz))
        return aware.astimezone(zone(tz)).date(), aware.astimezone(UTC)
    if isinstance(value, date):
        return value, None
    text = str(value).strip()
    if len(text) == 8 and text.isdigit():
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return parse_local(text, tz)


class LocalFilesProvider:
    """Reads `<root>/ohlcv/<SYMBOL>/<timeframe>/*.csv|*.parquet`. Naive timestamps are
    local to `timezone`; `basis` says how the files' prices are adjusted."""

    name = NAME

    def __init__(
        self,
        *,
        root: Path,
        timezone: str = "America/New_York",
        basis: PriceBasis = PriceBasis.RAW,
    ) -> None:
        self.root = Path(root)
        self.timezone = timezone
        self.basis = basis

    def directory(self, symbol: str, interval: Interval) -> Path | None:
        for sym in dict.fromkeys((symbol, symbol.upper(), symbol.lower())):
            for tf in _TIMEFRAME_DIRS[interval]:
                candidate = self.root / "ohlcv" / sym / tf
                if candidate.is_dir():
                    return candidate
        return None

    async def fetch(
        self, *, symbol: str, start: date, end: date, interval: Interval
    ) -> FetchResult:
        return await asyncio.to_thread(
            self.read, symbol=symbol, start=start, end=end, interval=interval
        )

    def read(self, *, symbol: str, start: date, end: date, interval: Interval) -> FetchResult:
        folder = self.directory(symbol, interval)
        if folder is None:
            expected = self.root / "ohlcv" / symbol / interval.value
            raise ProviderError(
                NAME, f"no directory {expected} (layout ohlcv/<symbol>/<timeframe>/)"
            )
        builder = SeriesBuilder(symbol=symbol, provider=NAME, interval=interval)
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".csv", ".parquet"})
        for path in files:
            for i, row in enumerate(self._rows(path)):
                stamp = _pick(row, _TIME_COLUMNS)
                if stamp is None:
                    raise InvalidData(NAME, f"{path}: no date/timestamp column in {sorted(row)}")
                try:
                    trading_date, instant = _when(stamp, self.timezone)
                except ValueError as exc:
                    raise InvalidData(NAME, f"{path} row {i + 1}: bad time {stamp!r}") from exc
                builder.add_row(
                    row,
                    WORD_KEYS,
                    position=f"{path.name}:{i + 1}",
                    trading_date=trading_date,
                    ts=instant,
                    adj_close=_pick(row, _ADJ_COLUMNS),
                )
        result = builder.result(basis=self.basis, exchange_timezone=self.timezone)
        return result.within(start, end)

    @staticmethod
    def _rows(path: Path) -> Iterator[dict[str, Any]]:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            names = [n.lower() for n in table.column_names]
            for record in table.to_pylist():
                yield dict(zip(names, record.values(), strict=True))
            return
        with path.open(newline="", encoding="utf-8-sig") as handle:
            for record in csv.DictReader(handle):
                yield {k.strip().lower(): v for k, v in record.items() if k is not None}
