"""Benchmark of the index level engine: 500 constituents x 5,000 days, monthly rebalances,
5% capped market-cap weights, against a plain vectorised numpy computation and `bt`.

Run: `uv run python bench/indexer/run.py` (prints JSON on stdout). `bt` is timed only
when it is importable (it is not a project dependency).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np

from indexer.domain.definition import IndexDefinition
from indexer.domain.levels import compute_index
from indexer.domain.panel import Panel

N_NAMES, N_DAYS, CAP, SEED = 500, 5_000, 0.05, 20240601


def make_input(n_days: int, n_names: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Business days from 2000-01-03, geometric random-walk closes, lognormal share counts."""
    rng = np.random.default_rng(SEED)
    days = np.arange(
        np.datetime64("2000-01-03"), np.datetime64("2060-01-01"), dtype="datetime64[D]"
    )
    days = days[np.is_busday(days)][:n_days]
    drift = rng.normal(0.0002, 0.0002, size=n_names)
    vol = rng.uniform(0.01, 0.03, size=n_names)
    steps = drift + vol * rng.standard_normal((n_days, n_names))
    closes = np.ascontiguousarray(
        rng.uniform(10, 200, size=n_names) * np.exp(np.cumsum(steps, axis=0))
    )
    shares = rng.lognormal(mean=19.0, sigma=1.5, size=n_names)
    return days, closes, shares


def numpy_reference(days: np.ndarray, closes: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """The same index written as plainly as numpy allows: weights capped for all rebalances
    at once, then one matrix-vector product per period between rebalances."""
    months = days.astype("datetime64[M]")
    resets = np.concatenate([[0], np.flatnonzero(months[1:] != months[:-1]) + 1])
    caps = closes[resets] * shares
    base = caps / caps.sum(axis=1, keepdims=True)
    weights = base.copy()
    capped = np.zeros(base.shape, dtype=bool)
    while True:
        over = weights > CAP * (1 + 1e-12)
        if not over.any():
            break
        capped |= over
        free = np.where(capped, 0.0, base).sum(axis=1, keepdims=True)
        weights = np.where(capped, CAP, base * (1 - CAP * capped.sum(axis=1, keepdims=True)) / free)
    levels = np.empty(len(days))
    levels[0] = 100.0
    ends = np.append(resets[1:], len(days) - 1)
    for k, (r, end) in enumerate(zip(resets, ends, strict=True)):
        units = weights[k] * levels[r] / closes[r]
        levels[r + 1 : end + 1] = closes[r + 1 : end + 1] @ units
    return levels


def run_bt(days: np.ndarray, closes: np.ndarray, weights_at: dict[Any, np.ndarray]) -> np.ndarray:
    import bt
    import pandas as pd

    index = pd.DatetimeIndex(days.astype("datetime64[ns]"))
    names = [f"S{i:03d}" for i in range(closes.shape[1])]
    frame = pd.DataFrame(closes, index=index, columns=names)
    targets = pd.DataFrame(
        np.vstack(list(weights_at.values())), index=index[list(weights_at)], columns=names
    )
    strategy = bt.Strategy("capped", [bt.algos.WeighTarget(targets), bt.algos.Rebalance()])
    test = bt.Backtest(strategy, frame, integer_positions=False, progress_bar=False)
    result = bt.run(test)
    values = result.prices["capped"].to_numpy()
    return np.asarray(values[-len(days) :], dtype=np.float64)


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return times, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--names", type=int, default=N_NAMES)
    parser.add_argument("--days", type=int, default=N_DAYS)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--skip-bt", action="store_true", help="do not run bt even if installed")
    args = parser.parse_args()

    days, closes, shares = make_input(args.days, args.names)
    symbols = tuple(f"S{i:03d}" for i in range(args.names))
    prices = Panel(days, symbols, closes)
    shares_panel = Panel(days[:1], symbols, shares[np.newaxis, :])
    definition = IndexDefinition.model_validate(
        {
            "id": "bench-capped",
            "name": "bench",
            "base_date": date.fromisoformat(str(days[0])),
            "base_value": 100.0,
            "weighting": {"method": "capped_market_cap", "cap": CAP},
            "universe": {"constituents": list(symbols)},
            "rebalance": "monthly",
        }
    )

    def engine() -> Any:
        return compute_index(definition, prices, shares=shares_panel)

    def reference() -> np.ndarray:
        return numpy_reference(days, closes, shares)

    engine(), reference()  # warm caches and BLAS threads before timing
    # Interleave the two so a noisy neighbour on this shared machine hits both alike.
    engine_times, ref_times = [], []
    result, ref_levels = None, None
    for _ in range(args.repeat):
        t, result = timed(engine, 1)
        engine_times += t
        t, ref_levels = timed(reference, 1)
        ref_times += t
    assert result is not None and ref_levels is not None
    agreement = float(np.max(np.abs(result.levels / ref_levels - 1)))

    report: dict[str, Any] = {
        "input": {
            "names": args.names,
            "days": args.days,
            "rebalances": len(result.rebalances),
            "cap": CAP,
            "seed": SEED,
        },
        "machine": {"python": platform.python_version(), "numpy": np.__version__},
        "engine_s": {"min": min(engine_times), "median": statistics.median(engine_times)},
        "numpy_reference_s": {"min": min(ref_times), "median": statistics.median(ref_times)},
        "ratio_engine_to_numpy": {
            "min": min(engine_times) / min(ref_times),
            "median": statistics.median(engine_times) / statistics.median(ref_times),
            "goal": "<= 2",
        },
        "max_rel_diff_engine_vs_numpy": agreement,
    }

    try:
        import bt  # noqa: F401
    except ImportError:
        report["bt"] = {"skipped": "bt is not importable in this environment (not a dependency)"}
    else:
        if args.skip_bt:
            report["bt"] = {"skipped": "--skip-bt"}
        else:
            targets = {
                int(np.searchsorted(days, np.datetime64(rb.day))): np.zeros(args.names)
                for rb in result.rebalances
            }
            for rb, row in zip(result.rebalances, targets, strict=True):
                targets[row][rb.columns] = rb.weights
            (bt_time,), bt_values = timed(lambda: run_bt(days, closes, targets), 1)
            bt_levels = bt_values / bt_values[0] * 100.0
            report["bt"] = {
                "seconds": bt_time,
                "ratio_bt_to_engine": bt_time / statistics.median(engine_times),
                "goal": ">= 100",
                "max_rel_diff_bt_vs_engine": float(np.max(np.abs(bt_levels / result.levels - 1))),
            }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
