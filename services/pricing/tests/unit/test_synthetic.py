"""The sandbox's synthetic series: NYSE sessions exactly, plausible and consistent bars."""

from __future__ import annotations

import statistics
from datetime import date, timedelta
from itertools import pairwise

from pricing.adapters.providers.sandbox import sandbox_series
from pricing.domain.calendars import session_calendar
from pricing.domain.validation import validate_series
from secmaster_common import sandbox as synthetic


def test_sessions_are_exactly_the_nyse_calendar_2000_to_2026() -> None:
    start, end = date(2000, 1, 1), date(2026, 12, 31)
    sessions = session_calendar("XNYS").sessions(start, end)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    assert [d for d in days if synthetic.is_trading_day(d)] == sessions
    assert len(sessions) > 6700


def test_a_decade_of_bars_is_clean_plausible_and_varied() -> None:
    series = sandbox_series("ACME", date(2010, 1, 1), date(2019, 12, 31))
    quality = validate_series(series.bars, calendar=session_calendar("XNYS"))
    assert (quality.rejected, quality.missing_sessions, quality.score) == ((), (), 1.0)
    closes = [b.close for b in series.bars]
    moves = [abs(b / a - 1) for a, b in pairwise(closes)]
    assert 0.003 < statistics.median(moves) < 0.03  # daily moves of about a percent
    assert max(moves) < 0.2
    assert sandbox_series("OTHER", date(2019, 1, 2), date(2019, 1, 2)).bars[0].close != closes[-1]
