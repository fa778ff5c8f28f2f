"""Bootstrap for Approach 3: refit on runs resampled with replacement, all resamples at once.

A resample is a vector of counts (how often each run was drawn), used as weights in the
summed Huber objective, so every resample shares one data array and all of them (times a few
starts each) run through one batched L-BFGS. Each resample starts from the full-data optimum
and (up to SCREEN_RUNS runs) from the BOOTSTRAP_GRID_STARTS grid points with the lowest
full-data objective; its draw is its best end point.
"""
from __future__ import annotations

import numpy as np

from .batched_lbfgs import batched_lbfgs
from .chinchilla_optimizer import SCREEN_RUNS, LogData

BOOTSTRAP_GRID_STARTS = 3  # grid points tried per resample besides the full-data optimum
BOOTSTRAP_MAX_ITER = 300  # batched L-BFGS iterations per chunk of resamples
CHUNK_POINTS = 4_000_000  # resamples x starts x runs per batch, to bound memory (~32 MB per array)


def resample_counts(n_runs: int, n_bootstrap: int, seed: int) -> np.ndarray:
    """(n_bootstrap, n_runs) multinomial counts: runs drawn with replacement, n_runs per resample."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_runs, np.full(n_runs, 1.0 / n_runs), size=n_bootstrap).astype(float)


def bootstrap_starts(data: LogData, theta_hat: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The full-data optimum followed by the best few grid points under the full data; above
    SCREEN_RUNS runs the optimum alone: a resample of that many runs has the full data's
    landscape, so its optimum lies in the same basin, and the grid starts (far from it) would
    cost most of the bootstrap's time (1,000 resamples of 2,000 runs: about 100 s -> 25 s)."""
    if len(data.log_loss) > SCREEN_RUNS:
        return theta_hat[None, :]
    f_grid, _ = data.fun_grad()(grid, np.arange(len(grid)))
    best = grid[np.argsort(f_grid)[:BOOTSTRAP_GRID_STARTS]]
    return np.vstack([theta_hat, best])


def _refit_chunk(data: LogData, counts: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Best theta per resample for a chunk of resamples (rows of counts)."""
    n_starts = len(starts)
    weights = np.repeat(counts, n_starts, axis=0)
    x0 = np.tile(starts, (len(counts), 1))
    x, f = batched_lbfgs(data.fun_grad(weights), x0, max_iter=BOOTSTRAP_MAX_ITER)
    best = np.argmin(f.reshape(len(counts), n_starts), axis=1)
    return x.reshape(len(counts), n_starts, -1)[np.arange(len(counts)), best]


def bootstrap_thetas(data: LogData, theta_hat: np.ndarray, grid: np.ndarray, n_bootstrap: int,
                     seed: int, starts: np.ndarray | None = None) -> np.ndarray:
    """(n_bootstrap, 5) optima (log A, log B, log E, alpha, beta), one per resample of the runs;
    ``starts`` overrides bootstrap_starts (benchmarks/bench_fit_speed.py times the former rule)."""
    counts = resample_counts(len(data.log_loss), n_bootstrap, seed)
    starts = bootstrap_starts(data, theta_hat, grid) if starts is None else starts
    per_chunk = max(1, CHUNK_POINTS // (len(starts) * len(data.log_loss)))
    chunks = [_refit_chunk(data, counts[i:i + per_chunk], starts) for i in range(0, n_bootstrap, per_chunk)]
    return np.vstack(chunks)
