"""When the scheduled refresh runs: a fixed delay after each watched exchange's session
close (early closes included, as exchange-calendars knows them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pricing.domain.calendars import SessionCalendar


@dataclass(frozen=True, slots=True)
class ScheduledRefresh:
    """Refresh `exchange`'s instruments for `session` at `at` (UTC)."""

    exchange: str
    session: date
    at: datetime


def next_refresh(
    calendars: Sequence[SessionCalendar], *, now: datetime, delay: timedelta
) -> ScheduledRefresh | None:
    """The first close + delay strictly after `now` across `calendars` (ties: first
    calendar). None when no calendar has a session in the next three weeks."""
    best: ScheduledRefresh | None = None
    for calendar in calendars:
        # From yesterday: a session closing late yesterday (UTC) may still be due.
        for session in calendar.sessions(
            now.date() - timedelta(days=1), now.date() + timedelta(days=21)
        ):
            due = calendar.open_close(session)[1] + delay
            if due > now:
                if best is None or due < best.at:
                    best = ScheduledRefresh(calendar.code, session, due)
                break
    return best
