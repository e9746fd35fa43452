"""Yahoo Finance chart API v8 (unofficial): daily and intraday bars with split and
dividend events (spec providers.md section 1)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pricing.adapters.providers._http import HttpProvider, json_body, status_error
from pricing.adapters.providers._rows import SeriesBuilder, date_chunks, merge_results
from pricing.domain.bars import CorporateAction, FetchResult, Interval, PriceBasis
from pricing.domain.errors import InvalidData, ProviderError
from pricing.domain.timestamps import daily_trading_date, local_date, utc_from_epoch_s

NAME = "yahoo"
DEFAULT_BASE_URL = "https://query2.finance.yahoo.com"
# Yahoo publishes no quota; yfinance users are cut off after bursts of ~950 tickers
# (yfinance #2128), so stay at one request a second.
DEFAULT_LIMIT = (60, 60.0)
# Without a browser-like User-Agent Yahoo answers 429 (karlwancl/YahooFinanceApi #73).
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0"

_INTERVALS = {
    Interval.M1: "1m",
    Interval.M5: "5m",
    Interval.M15: "15m",
    Interval.M30: "30m",
    Interval.H1: "60m",
    Interval.D1: "1d",
}
# 1m bars come at most 8 days per request (yfinance history.py `end - 691200`); other
# intraday sizes within a 60-day window.
_CHUNK_DAYS = {Interval.M1: 7}
_INTRADAY_CHUNK_DAYS = 59


def _error_text(body: Any) -> str | None:
    if isinstance(body, dict):
        error = (body.get("chart") or {}).get("error")
        if error:
            return f"{error.get('code')}: {error.get('description')}"
    return None


def parse_chart(body: Any, *, interval: Interval = Interval.D1) -> FetchResult:
    """One chart v8 body as a FetchResult.

    Timestamps (unix seconds at the session open) become exchange-local dates through
    `meta.exchangeTimezoneName`, never `meta.gmtoffset` (that is the offset at recording
    time). OHLC are split-adjusted, `adjclose` split+dividend adjusted. A repeated last
    daily row is Yahoo's separate live row (yfinance fix_Yahoo_returning_live_separate):
    the later one is kept, and a bar of a session still open is marked partial.
    """
    error = _error_text(body)
    if error:
        raise ProviderError(NAME, error)
    try:
        result = body["chart"]["result"][0]
        meta = result["meta"]
    except (KeyError, IndexError, TypeError) as exc:
        raise InvalidData(NAME, f"not a chart v8 body: {exc!r}") from exc
    symbol = str(meta.get("symbol", ""))
    tz = str(meta.get("exchangeTimezoneName") or "America/New_York")
    builder = SeriesBuilder(symbol=symbol, provider=NAME, interval=interval)
    # Values are float32 noise (75.0875015258789 for 75.0875); yfinance rounds them with
    # meta.priceHint, two more decimals keep every real quoted digit.
    decimals = int(meta.get("priceHint") or 2) + 2

    def price(value: Any) -> Any:
        return round(value, decimals) if isinstance(value, int | float) else value

    timestamps: list[int] = result.get("timestamp") or []
    indicators = result.get("indicators") or {}
    quote = (indicators.get("quote") or [{}])[0] or {}
    adj_series = ((indicators.get("adjclose") or [{}])[0] or {}).get("adjclose") or []

    def column(name: str) -> list[Any]:
        values = quote.get(name) or []
        return list(values) + [None] * (len(timestamps) - len(values))

    opens, highs, lows, closes, volumes = (
        column(n) for n in ("open", "high", "low", "close", "volume")
    )
    adj = list(adj_series) + [None] * (len(timestamps) - len(adj_series))
    for i, stamp in enumerate(timestamps):
        instant = utc_from_epoch_s(stamp)
        builder.add(
            position=f"timestamp[{i}]={stamp}",
            trading_date=builder.trading_date_of(instant, tz),
            ts=instant,
            open=price(opens[i]),
            high=price(highs[i]),
            low=price(lows[i]),
            close=price(closes[i]),
            volume=volumes[i],
            adj_close=price(adj[i]),
        )
    bars = builder.ascending()
    if not interval.is_intraday:
        deduped: dict[date, Any] = {}
        for bar in bars:
            deduped[bar.trading_date] = bar  # later (live) row wins
        bars = list(deduped.values())
    if bars and _session_in_progress(meta, bars[-1].trading_date, tz):
        bars[-1] = replace(bars[-1], is_partial=True)

    events = result.get("events") or {}
    actions: list[CorporateAction] = []
    for split in (events.get("splits") or {}).values():
        ratio = float(split["numerator"]) / float(split["denominator"])
        when = daily_trading_date(utc_from_epoch_s(split["date"]), tz)
        actions.append(CorporateAction.split(symbol, when, ratio))
    for dividend in (events.get("dividends") or {}).values():
        when = daily_trading_date(utc_from_epoch_s(dividend["date"]), tz)
        actions.append(CorporateAction.dividend(symbol, when, float(dividend["amount"])))
    return builder.result(
        basis=PriceBasis.SPLIT,
        currency=meta.get("currency"),
        exchange_timezone=tz,
        bars=bars,
        actions=actions,
    )


def _session_in_progress(meta: dict[str, Any], last_date: date, tz: str) -> bool:
    market_time = meta.get("regularMarketTime")
    regular = (meta.get("currentTradingPeriod") or {}).get("regular") or {}
    if not isinstance(market_time, int | float) or "start" not in regular or "end" not in regular:
        return False
    if local_date(utc_from_epoch_s(market_time), tz) != last_date:
        return False
    return bool(regular["start"] <= market_time < regular["end"])


class YahooProvider(HttpProvider):
    """Chart v8 client. Needs no key; `base_url` points it at the emulator in sandbox mode."""

    name = NAME
    default_base_url = DEFAULT_BASE_URL
    published_limits = (DEFAULT_LIMIT,)

    async def fetch(
        self, *, symbol: str, start: date, end: date, interval: Interval
    ) -> FetchResult:
        days = _CHUNK_DAYS.get(interval, _INTRADAY_CHUNK_DAYS if interval.is_intraday else 0)
        windows = list(date_chunks(start, end, days)) if days else [(start, end)]
        parts = [await self._fetch_window(symbol, lo, hi, interval) for lo, hi in windows]
        return merge_results(parts).within(start, end)

    async def _fetch_window(
        self, symbol: str, start: date, end: date, interval: Interval
    ) -> FetchResult:
        # The exchange's zone is unknown until the answer arrives: ask for a day more
        # on each side in UTC, then keep the exchange-local dates asked for.
        period1 = datetime(start.year, start.month, start.day, tzinfo=UTC) - timedelta(days=1)
        period2 = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=2)
        response = await self._http.get(
            f"{self.base_url}/v8/finance/chart/{symbol}",
            params={
                "period1": int(period1.timestamp()),
                "period2": int(period2.timestamp()),
                "interval": _INTERVALS[interval],
                "includePrePost": "false",
                "events": "div|split",
            },
            headers={"User-Agent": USER_AGENT},
        )
        if "Will be right back" in response.text[:2000]:
            # Yahoo's outage page comes with HTTP 200 (yfinance history.py checks for it).
            raise ProviderError(NAME, "Yahoo outage page ('Will be right back')")
        body = json_body(response, NAME)
        if response.status_code >= 400:
            raise status_error(NAME, response, _error_text(body) or response.text[:200])
        return parse_chart(body, interval=interval)
