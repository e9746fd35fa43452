"""Twelve Data /time_series: local-time strings, numbers as strings, newest first by
default, errors as `status: error` bodies with or without a matching HTTP status
(spec providers.md section 3)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pricing.adapters.providers._http import HttpProvider, json_body, status_error
from pricing.adapters.providers._rows import WORD_KEYS, SeriesBuilder
from pricing.domain.bars import FetchResult, Interval, PriceBasis
from pricing.domain.errors import (
    EmptyData,
    InvalidData,
    ProviderError,
    ProviderFailure,
    RateLimited,
)
from pricing.domain.timestamps import parse_local

NAME = "twelvedata"
DEFAULT_BASE_URL = "https://api.twelvedata.com"
DEFAULT_LIMIT = (8, 60.0)  # free plan: 8 credits/min, one per symbol (twelvedata-python #10)
MAX_OUTPUT = 5000

_INTERVALS = {
    Interval.M1: "1min",
    Interval.M5: "5min",
    Interval.M15: "15min",
    Interval.M30: "30min",
    Interval.H1: "1h",
    Interval.D1: "1day",
}


def error_from_body(body: dict[str, Any]) -> ProviderFailure:
    """The typed failure for a `{"code","message","status":"error"}` body."""
    code = int(body.get("code") or 0)
    message = str(body.get("message", "error"))
    if code == 429 or message.startswith("You have run out of API credits"):
        # Credits refill at the next minute ("Wait for the next minute").
        retry = 60.0 if "current minute" in message else None
        return RateLimited(NAME, message, retry_after=retry)
    if code == 404 and "Data not found" in message:
        return EmptyData(NAME, message)
    return ProviderError(NAME, f"code {code}: {message}", status=code or None)


def parse_series(body: Any, *, interval: Interval = Interval.D1) -> FetchResult:
    """One symbol's `{"meta","values","status":"ok"}`, values in either order."""
    if not isinstance(body, dict):
        raise InvalidData(NAME, f"not a JSON object: {str(body)[:120]!r}")
    if body.get("status") == "error":
        raise error_from_body(body)
    meta = body.get("meta") or {}
    tz = str(meta.get("exchange_timezone") or "America/New_York")
    builder = SeriesBuilder(symbol=str(meta.get("symbol", "")), provider=NAME, interval=interval)
    for row in body.get("values") or []:
        trading_date, instant = parse_local(str(row["datetime"]), tz)
        builder.add_row(
            row, WORD_KEYS, position=str(row["datetime"]), trading_date=trading_date, ts=instant
        )
    # Twelve Data's `adjust` parameter defaults to splits
    return builder.result(
        basis=PriceBasis.SPLIT, currency=meta.get("currency"), exchange_timezone=tz
    )


def parse_batch(
    body: Any, *, interval: Interval = Interval.D1
) -> dict[str, FetchResult | ProviderFailure]:
    """A multi-symbol answer: a dict keyed by symbol, each entry with its own status, so
    one bad symbol sits inside an HTTP 200 next to good ones."""
    if not isinstance(body, dict):
        raise InvalidData(NAME, "batch body is not an object")
    if body.get("status") == "error":
        raise error_from_body(body)
    out: dict[str, FetchResult | ProviderFailure] = {}
    for symbol, entry in body.items():
        try:
            out[symbol] = parse_series(entry, interval=interval)
        except ProviderFailure as exc:
            out[symbol] = exc
    return out


class TwelveDataProvider(HttpProvider):
    name = NAME
    default_base_url = DEFAULT_BASE_URL
    published_limits = (DEFAULT_LIMIT,)

    @property
    def _headers(self) -> dict[str, str]:
        # The header form keeps the key out of URLs and logs ([TDS] recommends it).
        return {"Authorization": f"apikey {self.api_key}"}

    async def fetch(
        self, *, symbol: str, start: date, end: date, interval: Interval
    ) -> FetchResult:
        response = await self._http.get(
            f"{self.base_url}/time_series",
            params={
                "symbol": symbol,
                "interval": _INTERVALS[interval],
                "start_date": start.isoformat(),
                "end_date": (end + timedelta(days=1)).isoformat(),
                "outputsize": MAX_OUTPUT,
                "order": "asc",
                "timezone": "Exchange",
            },
            headers=self._headers,
        )
        body = json_body(response, NAME)
        if isinstance(body, dict) and body.get("status") == "error":
            failure = error_from_body(body)
            if isinstance(failure, RateLimited):
                raise self._http.rate_limited(failure.message, failure.retry_after)
            raise failure
        if response.status_code >= 400:
            raise status_error(NAME, response)
        return parse_series(body, interval=interval).within(start, end)
