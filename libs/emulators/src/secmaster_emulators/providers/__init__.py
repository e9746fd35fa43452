"""Market-data provider emulator: `create_app(...)` builds it (Yahoo chart v8, Alpaca v2
bars, Polygon aggregates, Alpha Vantage), `synthetic_day` is its deterministic series."""

from secmaster_common.sandbox import SyntheticDay, synthetic_day
from secmaster_emulators.providers.app import create_app, yahoo_chart
from secmaster_emulators.providers.state import PUBLISHED_LIMITS, FaultRule, WindowRule

__all__ = [
    "PUBLISHED_LIMITS",
    "FaultRule",
    "SyntheticDay",
    "WindowRule",
    "create_app",
    "synthetic_day",
    "yahoo_chart",
]
