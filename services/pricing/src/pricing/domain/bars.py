"""Price bars, corporate actions and what one provider call returns, in no wire format."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from datetime import date, datetime


class Interval(enum.StrEnum):
    """Bar lengths the service understands; each adapter maps them to its own spelling."""

    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    M30 = "30m"
    H1 = "1h"
    D1 = "1d"

    @property
    def minutes(self) -> int:
        return {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "1d": 1440}[self.value]

    @property
    def is_intraday(self) -> bool:
        return self is not Interval.D1


class PriceBasis(enum.StrEnum):
    """How the provider's open/high/low/close are adjusted (spec section 10.4)."""

    RAW = "raw"
    SPLIT = "split"
    SPLIT_DIVIDEND = "split_dividend"


@dataclass(frozen=True, slots=True)
class PriceBar:
    """One bar. `trading_date` is the exchange-local session date; `ts` is the bar's
    start in UTC for intraday bars and None for daily bars."""

    symbol: str
    trading_date: date
    open: float
    high: float
    low: float
    close: float
    volume: float
    provider: str
    interval: Interval = Interval.D1
    ts: datetime | None = None
    adj_close: float | None = None
    is_partial: bool = False
    synthetic: bool = False

    @property
    def key(self) -> datetime | date:
        """What makes two bars of one series the same bar."""
        return self.ts if self.ts is not None else self.trading_date


class ActionType(enum.StrEnum):
    SPLIT = "split"
    DIVIDEND = "dividend"


@dataclass(frozen=True, slots=True)
class CorporateAction:
    """A split (`ratio` new shares per old share, 4.0 for 4:1) or a cash dividend
    (`amount` per share) taking effect on `ex_date` (exchange-local)."""

    symbol: str
    type: ActionType
    ex_date: date
    ratio: float | None = None
    amount: float | None = None

    @classmethod
    def split(cls, symbol: str, ex_date: date, ratio: float) -> CorporateAction:
        if not ratio > 0 or math.isinf(ratio):
            raise ValueError(f"split ratio must be a positive number, got {ratio!r}")
        return cls(symbol=symbol, type=ActionType.SPLIT, ex_date=ex_date, ratio=ratio)

    @classmethod
    def dividend(cls, symbol: str, ex_date: date, amount: float) -> CorporateAction:
        if not amount >= 0:
            raise ValueError(f"dividend amount must be >= 0, got {amount!r}")
        return cls(symbol=symbol, type=ActionType.DIVIDEND, ex_date=ex_date, amount=amount)


@dataclass(frozen=True, slots=True)
class SkippedRow:
    """A provider row that could not become a bar (e.g. Yahoo's all-null rows), kept so
    nothing is dropped silently."""

    position: str
    reason: str


@dataclass(frozen=True, slots=True)
class FetchResult:
    """Bars (ascending by time) and actions one provider returned for one symbol."""

    symbol: str
    provider: str
    interval: Interval
    bars: tuple[PriceBar, ...]
    actions: tuple[CorporateAction, ...] = ()
    basis: PriceBasis = PriceBasis.RAW
    currency: str | None = None
    exchange_timezone: str | None = None
    skipped: tuple[SkippedRow, ...] = ()
    synthetic: bool = False
    notes: tuple[str, ...] = field(default=())

    def within(self, start: date, end: date) -> FetchResult:
        """The same result keeping only bars and actions dated start..end inclusive."""
        return FetchResult(
            symbol=self.symbol,
            provider=self.provider,
            interval=self.interval,
            bars=tuple(b for b in self.bars if start <= b.trading_date <= end),
            actions=tuple(a for a in self.actions if start <= a.ex_date <= end),
            basis=self.basis,
            currency=self.currency,
            exchange_timezone=self.exchange_timezone,
            skipped=self.skipped,
            synthetic=self.synthetic,
            notes=self.notes,
        )


@dataclass(frozen=True, slots=True)
class FundamentalsSnapshot:
    """Shares outstanding and/or market cap of one instrument as of a date, with its source."""

    symbol: str
    as_of: date
    provider: str
    market_cap: float | None = None
    shares_outstanding: float | None = None
    currency: str | None = None
