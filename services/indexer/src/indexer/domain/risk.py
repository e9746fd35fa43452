"""Risk metrics of a daily simple-return series, defined as empyrical, quantstats and ffn
define them (formulas read from their source; see specs/indexmath.md section 2)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

__all__ = [
    "PERIODS_PER_YEAR",
    "alpha",
    "annual_return",
    "annual_volatility",
    "beta",
    "cvar_historical",
    "information_ratio",
    "max_drawdown",
    "risk_metrics",
    "sharpe_ratio",
    "sortino_ratio",
    "tracking_error",
    "var_historical",
    "var_parametric",
]

FloatArray = npt.NDArray[np.float64]

PERIODS_PER_YEAR = 252
_CUTOFF = 0.05


def _series(returns: npt.ArrayLike) -> FloatArray:
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError("returns must be one series (a 1-D array)")
    return r


def _std(r: FloatArray) -> float:
    return float(np.std(r, ddof=1)) if r.size > 1 else math.nan


def annual_return(returns: npt.ArrayLike) -> float:
    """Compound annual growth: prod(1 + r) ** (252 / n) - 1."""
    r = _series(returns)
    if r.size == 0:
        return math.nan
    return float(np.prod(1.0 + r) ** (PERIODS_PER_YEAR / r.size) - 1.0)


def annual_volatility(returns: npt.ArrayLike) -> float:
    """std(r, ddof=1) x sqrt(252)."""
    return _std(_series(returns)) * math.sqrt(PERIODS_PER_YEAR)


def sharpe_ratio(returns: npt.ArrayLike, *, risk_free: float = 0.0) -> float:
    """mean(r - rf) / std(r - rf, ddof=1) x sqrt(252), rf per period (empyrical's
    convention); NaN when the returns do not vary."""
    excess = _series(returns) - risk_free
    sd = _std(excess)
    if not sd > 0.0:
        return math.nan
    return float(np.mean(excess)) / sd * math.sqrt(PERIODS_PER_YEAR)


def sortino_ratio(returns: npt.ArrayLike) -> float:
    """mean(r) x 252 / downside risk, the downside deviation taken over all n returns
    (empyrical, quantstats and ffn 1.4; ffn 1.0 used ddof=1 over the losses only)."""
    r = _series(returns)
    if r.size == 0:
        return math.nan
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2))) * math.sqrt(PERIODS_PER_YEAR)
    if not downside > 0.0:
        return math.nan
    return float(np.mean(r)) * PERIODS_PER_YEAR / downside


def max_drawdown(returns: npt.ArrayLike) -> float:
    """min(W / running max of W) - 1 over wealth W = [1, cumprod(1 + r)]: the starting
    wealth is a peak, so a loss on the first day counts (empyrical; quantstats 0.0.86)."""
    r = _series(returns)
    wealth = np.concatenate([[1.0], np.cumprod(1.0 + r)])
    return float(np.min(wealth / np.maximum.accumulate(wealth)) - 1.0)


def var_historical(returns: npt.ArrayLike, *, cutoff: float = _CUTOFF) -> float:
    """The 5th percentile of the returns, linearly interpolated, as a (negative) return
    (empyrical `value_at_risk`)."""
    r = _series(returns)
    return float(np.percentile(r, 100.0 * cutoff)) if r.size else math.nan


def cvar_historical(returns: npt.ArrayLike, *, cutoff: float = _CUTOFF) -> float:
    """Mean of the k + 1 smallest returns, k = int((n - 1) x cutoff) (empyrical
    `conditional_value_at_risk`)."""
    r = _series(returns)
    if r.size == 0:
        return math.nan
    k = int((r.size - 1) * cutoff)
    return float(np.mean(np.partition(r, k)[: k + 1]))


def var_parametric(returns: npt.ArrayLike, *, cutoff: float = _CUTOFF) -> float:
    """Normal VaR: mean(r) + std(r, ddof=1) x Phi^-1(cutoff) (quantstats `value_at_risk`)."""
    r = _series(returns)
    sd = _std(r)
    if math.isnan(sd):
        return math.nan
    return float(np.mean(r)) + sd * NormalDist().inv_cdf(cutoff)


def beta(returns: npt.ArrayLike, benchmark: npt.ArrayLike) -> float:
    """cov(r, b) / var(b) (empyrical and quantstats agree; the ddof cancels)."""
    r, b = _aligned(returns, benchmark)
    centred = b - np.mean(b)
    denominator = float(np.mean(centred * centred))
    if not denominator > 0.0:
        return math.nan
    return float(np.mean(centred * r)) / denominator


def alpha(returns: npt.ArrayLike, benchmark: npt.ArrayLike) -> float:
    """(1 + mean(r - beta x b)) ** 252 - 1, empyrical's geometric annualisation (rf 0)."""
    r, b = _aligned(returns, benchmark)
    slope = beta(r, b)
    if math.isnan(slope):
        return math.nan
    return float((1.0 + np.mean(r - slope * b)) ** PERIODS_PER_YEAR - 1.0)


def tracking_error(returns: npt.ArrayLike, benchmark: npt.ArrayLike) -> float:
    """std(r - b, ddof=1) x sqrt(252)."""
    r, b = _aligned(returns, benchmark)
    return _std(r - b) * math.sqrt(PERIODS_PER_YEAR)


def information_ratio(returns: npt.ArrayLike, benchmark: npt.ArrayLike) -> float:
    """Annualised active return over tracking error: mean(r - b) x 252 / tracking_error,
    which is the peers' daily ratio x sqrt(252). Zero when the series equals its
    benchmark (quantstats' convention; empyrical gives NaN there)."""
    r, b = _aligned(returns, benchmark)
    active = r - b
    te = tracking_error(r, b)
    if te == 0.0:
        return 0.0
    return float(np.mean(active)) * PERIODS_PER_YEAR / te


def _aligned(returns: npt.ArrayLike, benchmark: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    r, b = _series(returns), _series(benchmark)
    if r.shape != b.shape:
        raise ValueError(f"returns ({r.size}) and benchmark ({b.size}) differ in length")
    return r, b


def risk_metrics(
    returns: npt.ArrayLike, benchmark: npt.ArrayLike | None = None
) -> dict[str, float]:
    """Every metric for one series; the relative ones only when a benchmark is given.
    Days where either series is NaN are left out."""
    r = _series(returns)
    b = None if benchmark is None else _series(benchmark)
    if b is not None:
        r, b = _aligned(r, b)
        both = ~(np.isnan(r) | np.isnan(b))
        r, b = r[both], b[both]
    else:
        r = r[~np.isnan(r)]
    metrics = {
        "annual_return": annual_return(r),
        "annual_volatility": annual_volatility(r),
        "sharpe_ratio": sharpe_ratio(r),
        "sortino_ratio": sortino_ratio(r),
        "max_drawdown": max_drawdown(r),
        "var_historical": var_historical(r),
        "cvar_historical": cvar_historical(r),
        "var_parametric": var_parametric(r),
    }
    if b is not None:
        metrics |= {
            "beta": beta(r, b),
            "alpha": alpha(r, b),
            "tracking_error": tracking_error(r, b),
            "information_ratio": information_ratio(r, b),
        }
    return metrics
