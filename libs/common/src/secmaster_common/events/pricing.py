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


class BarsPublished(Payload):
    """A batch of validated bars for one instrument and interval."""

    topic: ClassVar[str] = topics.MARKET_BARS
    event_type: ClassVar[str] = "market.bars"

    instrument_id: str
    symbol: str
    figi: str | None = None
    interval: Interval = "1d"
    provider: str
    bars: list[Bar]


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
