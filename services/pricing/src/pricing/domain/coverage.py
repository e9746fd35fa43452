"""Which date ranges of a daily series still need fetching: the exchange's sessions in the
asked range that have no stored bar, grouped into as few provider calls as is sensible."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date


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
