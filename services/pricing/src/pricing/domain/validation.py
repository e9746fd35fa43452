"""Checks a bar series before storage: rejected bars come back with a reason code (for
quarantine), missing sessions are found against the exchange calendar, and the series
gets a quality score."""

from __future__ import annotations

import enum
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from pricing.domain.bars import PriceBar
from pricing.domain.calendars import SessionCalendar


class RejectReason(enum.StrEnum):
    OHLC_INCONSISTENT = "ohlc_inconsistent"
    NON_POSITIVE_PRICE = "non_positive_price"
    NEGATIVE_VOLUME = "negative_volume"
    DUPLICATE_TIMESTAMP = "duplicate_timestamp"
    UNIT_ERROR_100X = "unit_error_100x"
    PARTIAL_BAR = "partial_bar"
    NOT_A_SESSION = "not_a_session"
    OUTSIDE_SESSION = "outside_session"
    # The provider's prices are adjusted differently from the instrument's stored bars;
    # storing them would mix bases in one series (see pricing.domain.adjustment).
    BASIS_MISMATCH = "basis_mismatch"


@dataclass(frozen=True, slots=True)
class RejectedBar:
    bar: PriceBar
    reason: RejectReason
    detail: str


@dataclass(frozen=True, slots=True)
class SeriesQuality:
    """The outcome of validating one series.

    `score` is in [0, 1]: accepted bars (a zero-volume bar counts half) over the larger
    of the bars received and the sessions the calendar expected in the range.
    """

    accepted: tuple[PriceBar, ...]
    rejected: tuple[RejectedBar, ...]
    missing_sessions: tuple[date, ...]
    zero_volume: tuple[date | datetime, ...]
    expected_sessions: int
    score: float


# A price 50-200 times (or 1/200-1/50 of) its neighbours is a pence/pounds or
# cents/dollars slip, not a market move (yfinance doc/source/advanced/price_repair.rst
# repairs the same "100x" errors).
_UNIT_ERROR_BAND = (50.0, 200.0)
_NEIGHBOURS = 5


def _basic_reason(bar: PriceBar) -> tuple[RejectReason, str] | None:
    prices = (bar.open, bar.high, bar.low, bar.close)
    if min(prices) <= 0:
        return RejectReason.NON_POSITIVE_PRICE, f"prices {prices} must all be > 0"
    if bar.volume < 0:
        return RejectReason.NEGATIVE_VOLUME, f"volume {bar.volume} < 0"
    if bar.high < max(bar.open, bar.close, bar.low) or bar.low > min(bar.open, bar.close):
        return (
            RejectReason.OHLC_INCONSISTENT,
            f"high {bar.high} / low {bar.low} do not bracket open {bar.open}, close {bar.close}",
        )
    return None


def _unit_errors(bars: Sequence[PriceBar]) -> set[int]:
    flagged: set[int] = set()
    closes = [b.close for b in bars]
    lo, hi = _UNIT_ERROR_BAND
    for i, close in enumerate(closes):
        neighbours = closes[max(0, i - _NEIGHBOURS) : i] + closes[i + 1 : i + 1 + _NEIGHBOURS]
        if not neighbours:
            continue
        ratio = close / statistics.median(neighbours)
        if lo <= ratio <= hi or 1 / hi <= ratio <= 1 / lo:
            flagged.add(i)
    return flagged


def validate_series(
    bars: Sequence[PriceBar],
    *,
    calendar: SessionCalendar | None = None,
    start: date | None = None,
    end: date | None = None,
    accept_partial: bool = False,
    regular_hours_only: bool = True,
) -> SeriesQuality:
    """Split `bars` into accepted and rejected, and list sessions with no accepted bar.

    The first bar of a duplicated timestamp is kept and later ones rejected. Partial
    (still forming) bars are rejected unless `accept_partial`. With a calendar, daily bars
    on non-session days and intraday bars outside the session (when `regular_hours_only`)
    are rejected, and the range start..end (default: first..last bar received) is checked
    for sessions without an accepted bar.
    """
    ordered = sorted(bars, key=lambda b: (b.trading_date, b.ts.timestamp() if b.ts else 0.0))
    rejected: list[RejectedBar] = []
    candidates: list[PriceBar] = []
    seen: set[date | datetime] = set()
    for bar in ordered:
        reason = _basic_reason(bar)
        if reason is None and bar.key in seen:
            reason = RejectReason.DUPLICATE_TIMESTAMP, f"a bar for {bar.key} came earlier"
        if reason is None and bar.is_partial and not accept_partial:
            reason = RejectReason.PARTIAL_BAR, "bar was still forming when fetched"
        if reason is None and calendar is not None:
            reason = _session_reason(bar, calendar, regular_hours_only)
        seen.add(bar.key)
        if reason is None:
            candidates.append(bar)
        else:
            rejected.append(RejectedBar(bar=bar, reason=reason[0], detail=reason[1]))

    unit_errors = _unit_errors(candidates)
    accepted: list[PriceBar] = []
    for i, bar in enumerate(candidates):
        if i in unit_errors:
            rejected.append(
                RejectedBar(
                    bar=bar,
                    reason=RejectReason.UNIT_ERROR_100X,
                    detail=f"close {bar.close} is ~100x off its neighbours",
                )
            )
        else:
            accepted.append(bar)

    missing: list[date] = []
    expected = 0
    if calendar is not None and (ordered or (start and end)):
        lo = start or ordered[0].trading_date
        hi = end or ordered[-1].trading_date
        sessions = calendar.sessions(lo, hi)
        expected = len(sessions)
        have = {b.trading_date for b in accepted}
        missing = [d for d in sessions if d not in have]

    zero_volume = tuple(b.key for b in accepted if b.volume == 0)
    denominator = max(expected, len(ordered))
    score = (len(accepted) - 0.5 * len(zero_volume)) / denominator if denominator else 0.0
    return SeriesQuality(
        accepted=tuple(accepted),
        rejected=tuple(rejected),
        missing_sessions=tuple(missing),
        zero_volume=zero_volume,
        expected_sessions=expected,
        score=max(0.0, min(1.0, score)),
    )


def _session_reason(
    bar: PriceBar, calendar: SessionCalendar, regular_hours_only: bool
) -> tuple[RejectReason, str] | None:
    if not calendar.is_session(bar.trading_date):
        return RejectReason.NOT_A_SESSION, f"{bar.trading_date} is not a {calendar.code} session"
    if bar.ts is not None and regular_hours_only:
        opened, closed = calendar.open_close(bar.trading_date)
        if not opened <= bar.ts < closed:
            return (
                RejectReason.OUTSIDE_SESSION,
                f"{bar.ts.isoformat()} is outside {opened.isoformat()}..{closed.isoformat()}",
            )
    return None
