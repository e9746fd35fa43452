"""The sandbox's synthetic series: NYSE sessions exactly, plausible and consistent bars,
and the same numbers as the emulator's copy of the algorithm."""

from __future__ import annotations

import statistics
from datetime import date, timedelta
from itertools import pairwise

from pricing.adapters.providers.sandbox import sandbox_series
from pricing.domain import synthetic
from pricing.domain.calendars import session_calendar
from pricing.domain.validation import validate_series
from secmaster_emulators.providers import synthetic as emulator_copy


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


def test_emulator_copy_gives_identical_bars() -> None:
    day = date(2003, 1, 1)
    for symbol in ("AAPL", "msft", "BRK.B", "^GSPC", "7203.T"):
        for offset in range(0, 9000, 37):
            current = day + timedelta(days=offset)
            ours = synthetic.synthetic_day(symbol, current)
            theirs = emulator_copy.synthetic_day(symbol, current)
            assert (ours is None) == (theirs is None)
            if ours is not None and theirs is not None:
                assert (ours.open, ours.high, ours.low, ours.close, ours.volume) == (
                    theirs.open,
                    theirs.high,
                    theirs.low,
                    theirs.close,
                    theirs.volume,
                )
