"""Contracts of the market-data topics: refresh commands, bars, fundamentals."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from secmaster_common.events import topics
from secmaster_common.events.envelope import Payload

Interval = Literal["1m", "5m", "15m", "1h", "1d"]


class RefreshPrices(Payload):
    """Refresh these symbols over this date range (inclusive)."""

    topic: ClassVar[str] = topics.PRICING_REFRESH_REQUESTED
    event_type: ClassVar[str] = "pricing.refresh_requested"

    symbols: list[str] = Field(min_length=1)
    start: dt.date
    end: dt.date
    interval: Interval = "1d"


class Bar(BaseModel):
    """One validated bar. Daily bars carry `date` (exchange-local trading date);
    intraday bars carry `ts` (UTC start of the bar)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    date: dt.date | None = None
    ts: AwareDatetime | None = None
    open: float
    high: float
    low: float
    close: float
    adj_close: float | None = None
    volume: float


PriceBasis = Literal["raw", "split", "split_dividend"]


class CorporateActionItem(BaseModel):
    """A split (`ratio` new shares per old share) or a cash dividend (`amount` per share,
    in the same basis as the bars) taking effect on `date` (exchange-local ex-date)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["split", "dividend"]
    date: dt.date
    ratio: float | None = None
    amount: float | None = None


class BarsPublished(Payload):
    """A batch of validated bars for one instrument and interval. `basis` says how the
    provider adjusted open/high/low/close (raw, split-adjusted, or split and dividend
    adjusted); `actions` are the splits and dividends dated within the batch's range."""

    topic: ClassVar[str] = topics.MARKET_BARS
    event_type: ClassVar[str] = "market.bars"

    instrument_id: str
    symbol: str
    figi: str | None = None
    interval: Interval = "1d"
    provider: str
    bars: list[Bar]
    basis: PriceBasis = "raw"
    actions: list[CorporateActionItem] = Field(default_factory=list)


class FundamentalsObserved(Payload):
    """Shares outstanding / market cap as of a date, with its source."""

    topic: ClassVar[str] = topics.MARKET_FUNDAMENTALS
    event_type: ClassVar[str] = "market.fundamentals"

    instrument_id: str
    symbol: str
    as_of: dt.date
    shares_outstanding: float | None = None
    market_cap: float | None = None
    source: str
