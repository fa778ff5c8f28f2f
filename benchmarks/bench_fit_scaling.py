"""Time the Approach 3 fit: full 4,500-start grid, 1,000 bootstrap refits, and the naive loop.

    python benchmarks/bench_fit_scaling.py [--runs 120] [--naive-starts 150] [--bootstrap 1000]

The naive reference (scipy L-BFGS-B from each start, experimental_analysis.chinchilla_optimizer.
minimise_reference) runs on an evenly spaced subset of the grid and is extrapolated linearly
to all 4,500 starts; the bootstrap's naive time is extrapolated from a few resamples.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from experimental_analysis.chinchilla_bootstrap import bootstrap_starts, bootstrap_thetas, resample_counts  # noqa: E402
from experimental_analysis.chinchilla_optimizer import LogData, minimise_from_grid, minimise_reference  # noqa: E402
from experimental_analysis.huber_lse import initial_grid  # noqa: E402

TRUE = (1.69, 406.4, 410.7, 0.34, 0.28)  # E, A, B, alpha, beta (Hoffmann et al. eq. 10)
NAIVE_BOOTSTRAP_SAMPLES = 5  # resamples timed with the naive loop


def synthetic(n_runs: int, seed: int = 0) -> LogData:
    """Runs from the Chinchilla law with 1% multiplicative noise."""
    rng = np.random.default_rng(seed)
    E, A, B, alpha, beta = TRUE
    N = np.exp(rng.uniform(np.log(1e6), np.log(3e9), n_runs))
    D = N * np.exp(rng.uniform(np.log(1), np.log(400), n_runs))
    return LogData(N, D, (E + A / N**alpha + B / D**beta) * np.exp(rng.normal(0, 0.01, n_runs)))


def timed(fn):
    """(result, seconds)."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def bench_fast(data: LogData, grid: np.ndarray, n_bootstrap: int):
    """Time the grid fit and the batched bootstrap; returns (theta, objective, t_fit, t_boot)."""
    (theta, objective), t_fit = timed(lambda: minimise_from_grid(data, grid))
    print(f"full-grid fit ({len(grid)} starts, {len(data.log_loss)} runs): {t_fit:.2f} s, objective {objective:.10g}")
    _, t_boot = timed(lambda: bootstrap_thetas(data, theta, grid, n_bootstrap, seed=0))
    print(f"{n_bootstrap} bootstrap refits (batched): {t_boot:.2f} s")
    return theta, objective, t_fit, t_boot


def bench_naive_grid(data: LogData, grid: np.ndarray, n_starts: int, theta, objective, t_fit) -> None:
    """Naive scipy loop on a grid subset (tight and default tolerances), extrapolated to the grid."""
    subset = grid[np.linspace(0, len(grid) - 1, n_starts).astype(int)]
    scale = len(grid) / len(subset)
    (theta_ref, objective_ref), t_naive = timed(lambda: minimise_reference(data, subset))
    print(f"naive scipy loop (same tight tolerances as the polish): {t_naive:.2f} s for {len(subset)} starts -> "
          f"{t_naive * scale:.1f} s for {len(grid)} (EXTRAPOLATED linearly); speed-up {t_naive * scale / t_fit:.0f}x")
    print(f"agreement: objective fast {objective:.12g} vs naive-subset {objective_ref:.12g}; "
          f"max |theta diff| {np.max(np.abs(theta - theta_ref)):.2e}")
    objective_default, t_default = timed(lambda: min(
        minimize(data.scalar_fun_grad, s, jac=True, method="L-BFGS-B").fun for s in subset))
    print(f"naive loop with scipy's default tolerances: {t_default * scale:.1f} s for {len(grid)} (EXTRAPOLATED), "
          f"objective {objective_default:.12g} (stops early: why the tight tolerances)")


def bench_naive_bootstrap(data: LogData, theta, grid: np.ndarray, n_bootstrap: int, t_boot: float) -> None:
    """Naive scipy refits of a few resamples from the same starts, extrapolated to n_bootstrap."""
    starts = bootstrap_starts(data, theta, grid)
    counts = resample_counts(len(data.log_loss), NAIVE_BOOTSTRAP_SAMPLES, seed=0).astype(int)
    columns = (data.log_n, data.log_d, data.log_loss)
    _, t_naive = timed(lambda: [minimise_reference(LogData(*(np.exp(np.repeat(v, row)) for v in columns)), starts)
                                for row in counts])
    t_full = t_naive * n_bootstrap / NAIVE_BOOTSTRAP_SAMPLES
    print(f"naive bootstrap ({len(starts)} scipy starts per resample): {t_naive:.2f} s for {NAIVE_BOOTSTRAP_SAMPLES} "
          f"resamples -> {t_full:.1f} s for {n_bootstrap} (EXTRAPOLATED); speed-up {t_full / t_boot:.1f}x")


def main() -> None:
    """Print the timings and the agreement with the naive loop."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=120)
    parser.add_argument("--naive-starts", type=int, default=150, help="grid starts the naive loop really runs")
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    data, grid = synthetic(args.runs), initial_grid()
    theta, objective, t_fit, t_boot = bench_fast(data, grid, args.bootstrap)
    bench_naive_grid(data, grid, args.naive_starts, theta, objective, t_fit)
    bench_naive_bootstrap(data, theta, grid, args.bootstrap, t_boot)


if __name__ == "__main__":
    main()
