"""The deterministic `sandbox` provider: synthetic but plausible daily bars for any
symbol, a pure function of (symbol, date), every bar labelled synthetic."""

from __future__ import annotations

from datetime import date, timedelta

from pricing.adapters.providers._rows import SeriesBuilder
from pricing.domain.bars import FetchResult, Interval, PriceBasis
from pricing.domain.errors import ProviderError
from secmaster_common.sandbox import synthetic_day

NAME = "sandbox"


class SandboxProvider:
    """No network, no key. Bars on NYSE sessions only (weekends, holidays and special
    closures are left out)."""

    name = NAME

    async def fetch(
        self, *, symbol: str, start: date, end: date, interval: Interval
    ) -> FetchResult:
        if interval is not Interval.D1:
            raise ProviderError(NAME, "the sandbox provider serves daily bars only")
        return sandbox_series(symbol, start, end)


def sandbox_series(symbol: str, start: date, end: date) -> FetchResult:
    builder = SeriesBuilder(
        symbol=symbol.upper(), provider=NAME, interval=Interval.D1, synthetic=True
    )
    day = start
    while day <= end:
        synthetic = synthetic_day(symbol, day)
        if synthetic is not None:
            builder.add(
                position=day.isoformat(),
                trading_date=day,
                ts=None,
                open=synthetic.open,
                high=synthetic.high,
                low=synthetic.low,
                close=synthetic.close,
                volume=synthetic.volume,
                adj_close=synthetic.close,
            )
        day += timedelta(days=1)
    return builder.result(
        basis=PriceBasis.RAW,
        currency="USD",
        exchange_timezone="America/New_York",
        notes=("synthetic data: deterministic test series, not market prices",),
    )
