"""Which trading days an index rebalances on: the first trading day of each period."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from indexer.domain.definition import RebalanceFrequency
from indexer.domain.panel import DateArray

__all__ = ["scheduled_rebalance_rows"]

IntArray = npt.NDArray[np.int64]


def _period_keys(dates: DateArray, frequency: RebalanceFrequency) -> IntArray:
    days = dates.astype("datetime64[D]").astype(np.int64)
    if frequency == "daily":
        return np.arange(len(dates), dtype=np.int64)
    if frequency == "weekly":
        # 1970-01-01 was a Thursday, so (days + 3) // 7 numbers Monday-to-Sunday weeks.
        return (days + 3) // 7
    months = dates.astype("datetime64[M]").astype(np.int64)
    if frequency == "monthly":
        return months
    if frequency == "quarterly":
        return months // 3
    raise ValueError(f"no period for rebalance frequency {frequency!r}")


def scheduled_rebalance_rows(
    dates: DateArray, frequency: RebalanceFrequency, *, after_row: int
) -> IntArray:
    """Rows after `after_row` that are the first trading day (the first row of `dates`,
    the days the index has prices for) of a new day/week/month/quarter."""
    if frequency == "never" or len(dates) <= after_row + 1:
        return np.zeros(0, dtype=np.int64)
    keys = _period_keys(dates, frequency)
    starts = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    return starts[starts > after_row].astype(np.int64)
