"""Which date ranges of a series still need fetching: the exchange's sessions in the asked
range with no stored daily bar (or, intraday, not stored through the close), grouped into
as few provider calls as is sensible."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta


@dataclass(frozen=True, slots=True)
class DateRange:
    """An inclusive range of calendar dates."""

    start: date
    end: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


def missing_ranges(
    sessions: Sequence[date], stored: Collection[date], *, max_ranges: int = 8
) -> list[DateRange]:
    """Runs of consecutive `sessions` (ascending) with no date in `stored`.

    Two missing sessions with no stored session between them fall in one run, so a
    weekend or holiday never splits a request. With more than `max_ranges` runs (a
    series full of holes), one range from the first to the last missing session is
    asked instead: one long call beats many short ones against a per-minute limit.
    """
    runs: list[DateRange] = []
    run_start: date | None = None
    previous: date | None = None
    for day in sessions:
        if day in stored:
            if run_start is not None and previous is not None:
                runs.append(DateRange(run_start, previous))
            run_start = None
        elif run_start is None:
            run_start = day
        previous = day
    if run_start is not None and previous is not None:
        runs.append(DateRange(run_start, previous))
    if len(runs) > max_ranges:
        return [DateRange(runs[0].start, runs[-1].end)]
    return runs


@dataclass(frozen=True, slots=True)
class Session:
    """One exchange session: its local date and UTC open and close."""

    day: date
    opens: datetime
    closes: datetime


def complete_sessions(
    sessions: Sequence[Session], stored: Iterable[datetime], *, step: timedelta
) -> set[date]:
    """The sessions whose intraday series is stored through the close: a bar starting in
    the session's last `step` is there. Minutes with no trade have no bar at most
    providers, so a hole inside a session does not make it incomplete; a session still
    trading (its last bar not yet formed) does."""
    last_starts = sorted(stored)
    done: set[date] = set()
    for session in sessions:
        lo = bisect_left(last_starts, session.closes - step)
        if lo < len(last_starts) and last_starts[lo] < session.closes:
            done.add(session.day)
    return done
