"""The index-mathematics formulas (S&P DJI *Index Mathematics Methodology*: levels,
divisor adjustments, capping, equal-weight factors, total return), one function each."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "CappedWeightRows",
    "CappedWeights",
    "adjustment_factors",
    "cap_weight_rows",
    "cap_weights",
    "divisor_after_market_value_change",
    "divisor_for_continuity",
    "equal_weight_factors",
    "index_dividend_points",
    "index_level",
    "total_return_level",
]

FloatArray = npt.NDArray[np.float64]

# Relative slack when deciding that a weight exceeds the cap, so a weight that is the cap
# up to rounding is not capped again (which would loop without changing anything).
_CAP_SLACK = 1e-12


def index_level(prices: FloatArray, index_shares: FloatArray, divisor: float) -> float:
    """Level = sum(price x index shares) / divisor (S&P DJI p.6)."""
    return float(np.dot(prices, index_shares) / divisor)


def divisor_for_continuity(market_value_after: float, level_before: float) -> float:
    """The divisor that keeps the level unchanged across a change of index shares:
    Divisor_after = IndexMarketValue_after / IndexLevel_before (S&P DJI p.7)."""
    return market_value_after / level_before


def divisor_after_market_value_change(
    divisor: float, market_value: float, market_value_change: float
) -> float:
    """D_new = D_old x (MV + dMC) / MV for a share issuance or buyback (S&P DJI p.7)."""
    return divisor * (market_value + market_value_change) / market_value


@dataclass(frozen=True)
class CappedWeights:
    weights: FloatArray
    passes: int
    feasible: bool


def cap_weights(weights: FloatArray, cap: float) -> CappedWeights:
    """Cap every weight at `cap` and hand the excess to the uncapped names pro rata,
    repeating until none exceeds the cap (S&P DJI "Different Capping Methods").

    `passes` counts the rounds that capped at least one name. When n x cap < 1 no
    weighting can respect the cap; the weights are then equal and `feasible` is False.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size == 0 or float(w.sum()) <= 0.0 or bool((w < 0).any()):
        raise ValueError("weights to cap must be a non-empty vector of non-negative numbers")
    rows = cap_weight_rows(w[np.newaxis, :], cap)
    return CappedWeights(rows.weights[0], int(rows.passes[0]), bool(rows.feasible[0]))


@dataclass(frozen=True)
class CappedWeightRows:
    weights: FloatArray
    passes: npt.NDArray[np.int64]
    feasible: npt.NDArray[np.bool_]


def cap_weight_rows(basis: FloatArray, cap: float) -> CappedWeightRows:
    """`cap_weights` for many rebalances at once: each row of `basis` (market caps, zero
    for names outside the index that day) becomes a capped weight vector.

    Rows run the same passes in lock step, so the result equals `cap_weights` row by row.
    Rows where (number of names) x cap < 1 get equal weights and `feasible` False.
    """
    b = np.asarray(basis, dtype=np.float64)
    totals = b.sum(axis=1)
    if bool((totals <= 0.0).any()):
        raise ValueError("every row to cap needs at least one positive weight")
    w = b / totals[:, np.newaxis]
    members = b > 0.0
    counts = members.sum(axis=1)
    feasible = counts * cap >= 1.0 - _CAP_SLACK
    out = w.copy()
    if not bool(feasible.all()):
        out[~feasible] = members[~feasible] / counts[~feasible, np.newaxis]
    passes = np.zeros(b.shape[0], dtype=np.int64)
    capped = np.zeros(b.shape, dtype=bool)
    limit = cap * (1.0 + _CAP_SLACK)
    active = np.flatnonzero(feasible)
    while active.size:
        over = out[active] > limit
        over &= ~capped[active]
        hit = over.any(axis=1)
        active = active[hit]
        if not active.size:
            break
        over = over[hit]
        passes[active] += 1
        rows_capped = capped[active] | over
        capped[active] = rows_capped
        base = w[active]
        free_total = np.where(rows_capped, 0.0, base).sum(axis=1)
        left = 1.0 - cap * rows_capped.sum(axis=1)
        # All names capped (n x cap == 1): nothing is left to hand out.
        scale = np.divide(left, free_total, out=np.zeros_like(left), where=free_total > 0.0)
        out[active] = np.where(rows_capped, cap, base * scale[:, np.newaxis])
    return CappedWeightRows(out, passes, feasible)


def adjustment_factors(target_weights: FloatArray, uncapped_weights: FloatArray) -> FloatArray:
    """AWF = capped weight / uncapped weight (S&P DJI p.10, "additional weight factor")."""
    return np.asarray(target_weights) / np.asarray(uncapped_weights)


def equal_weight_factors(z: float, prices: FloatArray, quantities: FloatArray) -> FloatArray:
    """AWF_i = Z / (N x P_i x Q_i), the factors that make every name's index market value
    Z/N on the rebalancing reference date (S&P DJI p.16)."""
    p = np.asarray(prices, dtype=np.float64)
    return z / (p.size * p * np.asarray(quantities, dtype=np.float64))


def index_dividend_points(
    dividends_per_share: FloatArray, index_shares: FloatArray, divisor: float
) -> float:
    """IndexDividend = sum(Div_i x index shares_i) / Divisor, the dividends paid on an
    ex-date expressed in points of the price index (S&P DJI p.21)."""
    return float(np.dot(dividends_per_share, index_shares) / divisor)


def total_return_level(
    tr_previous: float, pr_level: float, pr_previous: float, dividend_points: float
) -> float:
    """TR_t = TR_{t-1} x (PR_t + IndexDividend_t) / PR_{t-1} (S&P DJI p.21)."""
    return tr_previous * ((pr_level + dividend_points) / pr_previous)
