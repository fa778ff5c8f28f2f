"""Approach 3 fit time against the number of runs: the former path and the current one, side by side.

    python benchmarks/bench_fit_speed.py [--runs 120 500 2000 10000] [--bootstrap 1000] [--old-max-runs 2000]

Former path: the grid screen and convergence on every run, and every bootstrap resample started
from the optimum and the 3 best grid points. Current: screen and converge on at most SCREEN_RUNS
runs (experimental_analysis/chinchilla_optimizer.py), polish on all; above SCREEN_RUNS runs a
resample starts from the optimum only. Synthetic runs from the Chinchilla law, 1% noise. The
former bootstrap is timed on 50 resamples and scaled (EXTRAPOLATED); above --old-max-runs the
former path is not run.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_fit_scaling import synthetic  # noqa: E402
from experimental_analysis.chinchilla_bootstrap import BOOTSTRAP_GRID_STARTS, bootstrap_thetas  # noqa: E402
from experimental_analysis.chinchilla_optimizer import minimise_from_grid  # noqa: E402
from experimental_analysis.huber_lse import initial_grid  # noqa: E402

OLD_BOOTSTRAP_SAMPLES = 50  # resamples the former bootstrap really runs; scaled to --bootstrap


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def old_starts(data, theta, grid) -> np.ndarray:
    """The former bootstrap starts: the optimum and the best grid points, at any number of runs."""
    f_grid, _ = data.fun_grad()(grid, np.arange(len(grid)))
    return np.vstack([theta, grid[np.argsort(f_grid)[:BOOTSTRAP_GRID_STARTS]]])


def row(n_runs: int, n_bootstrap: int, old_max: int) -> str:
    data, grid = synthetic(n_runs), initial_grid()
    (theta, f_new), t_new = timed(lambda: minimise_from_grid(data, grid))
    _, t_boot = timed(lambda: bootstrap_thetas(data, theta, grid, n_bootstrap, seed=0))
    if n_runs > old_max:
        return f"{n_runs:>7} | {'not run':>9} {t_new:>9.2f} {'':>12} | {'not run':>12} {t_boot:>10.1f}"
    (_, f_old), t_old = timed(lambda: minimise_from_grid(data, grid, screen_runs=10**9))
    starts = old_starts(data, theta, grid)
    _, t_b = timed(lambda: bootstrap_thetas(data, theta, grid, OLD_BOOTSTRAP_SAMPLES, seed=0, starts=starts))
    return (f"{n_runs:>7} | {t_old:>9.2f} {t_new:>9.2f} {abs(f_new - f_old):>12.1e} | "
            f"{t_b * n_bootstrap / OLD_BOOTSTRAP_SAMPLES:>11.1f}* {t_boot:>10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, nargs="+", default=[120, 500, 2000, 10000])
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--old-max-runs", type=int, default=2000)
    args = parser.parse_args()
    print(f"{'runs':>7} | {'fit old s':>9} {'fit new s':>9} {'|obj diff|':>12} | "
          f"{f'{args.bootstrap} boot old':>12} {'boot new s':>10}   (* extrapolated from "
          f"{OLD_BOOTSTRAP_SAMPLES} resamples)")
    for n_runs in args.runs:
        print(row(n_runs, args.bootstrap, args.old_max_runs), flush=True)


if __name__ == "__main__":
    main()
