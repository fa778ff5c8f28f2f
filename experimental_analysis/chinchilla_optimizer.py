"""Minimising the Approach 3 objective: fast multi-start search and the plain reference.

`minimise_from_grid` gives the same answer as `minimise_reference` (scipy L-BFGS-B from
every one of the 4,500 grid starts, keep the best) in a fraction of the time:

1. all starts take SCREEN_ITERS batched L-BFGS steps together (batched_lbfgs.py);
2. the SCREEN_KEEP best continue, still batched, to convergence;
3. the POLISH_STARTS best distinct end points are polished with scipy L-BFGS-B under the
   same tolerances the reference uses, and the lowest objective wins.

Steps 1 and 2 cost starts x runs per evaluation, so above SCREEN_RUNS runs they run on
SCREEN_RUNS runs spread evenly over (log N, log D) (`screening_subset`): that finds the same
basins, and the polish of step 3 runs on every run, so the optimum is the full data's
(2,000 runs: 72 s -> about 2 s; benchmarks/bench_fit_speed.py).

Most starts fall into the same few basins within a few dozen steps, so pruning after the
screen loses nothing in practice; tests/test_fit_scaling_analysis.py and
benchmarks/bench_fit_scaling.py check the result against the reference.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from scipy.optimize import minimize

from .batched_lbfgs import batched_lbfgs
from .huber_lse import initial_grid, objective_and_grad

SCREEN_ITERS = 20  # batched steps every grid start takes before pruning
SCREEN_KEEP = 300  # starts that continue after the screen
POLISH_STARTS = 5  # distinct best end points polished with scipy
SCREEN_RUNS = 100  # above this many runs, steps 1-2 run on this many, spread over (log N, log D)
# scipy L-BFGS-B settings for the polish and the reference: the objective is tiny (delta=1e-3),
# so scipy's default relative ftol (2.2e-9 of max(|f|, 1)) would stop far too early.
SCIPY_OPTIONS = {"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000, "maxfun": 50_000}


class LogData:
    """log N, log D, log L of the runs, with optional per-point weights (bootstrap counts)."""

    def __init__(self, N: np.ndarray, D: np.ndarray, loss: np.ndarray):
        self.log_n, self.log_d, self.log_loss = np.log(N), np.log(D), np.log(loss)

    def subset(self, rows: np.ndarray) -> "LogData":
        """The same kind of data for the runs ``rows`` only."""
        return LogData(*(np.exp(v[rows]) for v in (self.log_n, self.log_d, self.log_loss)))

    def fun_grad(self, weights: Optional[np.ndarray] = None):
        """Objective for batched_lbfgs; weights (n,) shared or (B, n) one row per problem."""
        def evaluate(theta: np.ndarray, rows: np.ndarray):
            w = weights[rows] if weights is not None and weights.ndim == 2 else weights
            return objective_and_grad(theta, self.log_n, self.log_d, self.log_loss, w)
        return evaluate

    def scalar_fun_grad(self, theta: np.ndarray):
        """(f, grad) of one theta, the interface scipy.optimize.minimize wants with jac=True."""
        f, g = objective_and_grad(theta[None, :], self.log_n, self.log_d, self.log_loss)
        return f[0], g[0]


def polish(data: LogData, theta0: np.ndarray) -> tuple[np.ndarray, float]:
    """One scipy L-BFGS-B run from theta0 with the tight SCIPY_OPTIONS."""
    result = minimize(data.scalar_fun_grad, theta0, jac=True, method="L-BFGS-B", options=SCIPY_OPTIONS)
    return result.x, float(result.fun)


def distinct_best(x: np.ndarray, f: np.ndarray, k: int, decimals: int = 4) -> np.ndarray:
    """Indices of the k lowest objectives whose end points differ after rounding."""
    order = np.argsort(f)
    _, first = np.unique(np.round(x[order], decimals), axis=0, return_index=True)
    return order[np.sort(first)][:k]


def screening_subset(data: LogData, size: int = SCREEN_RUNS) -> LogData:
    """``size`` runs evenly spaced in (log N, log D) order; all of them when there are no more."""
    n = len(data.log_loss)
    if n <= size:
        return data
    order = np.lexsort((data.log_d, data.log_n))
    return data.subset(order[np.linspace(0, n - 1, size).round().astype(int)])


def minimise_from_grid(data: LogData, starts: Optional[np.ndarray] = None,
                       screen_runs: int = SCREEN_RUNS) -> tuple[np.ndarray, float]:
    """Best (theta, objective) over the grid starts: screen, prune, converge (on at most screen_runs
    runs), polish (on all of them)."""
    starts = initial_grid() if starts is None else starts
    screen = screening_subset(data, screen_runs)
    x, f = batched_lbfgs(screen.fun_grad(), starts, max_iter=SCREEN_ITERS)
    keep = np.argsort(np.where(np.isfinite(f), f, np.inf))[:SCREEN_KEEP]
    x, f = batched_lbfgs(screen.fun_grad(), x[keep])
    polished = [polish(data, x[i]) for i in distinct_best(x, f, POLISH_STARTS)]
    return min(polished, key=lambda pair: pair[1])


def minimise_reference(data: LogData, starts: Optional[np.ndarray] = None) -> tuple[np.ndarray, float]:
    """The plain method: scipy L-BFGS-B from every start, keep the lowest objective (slow)."""
    starts = initial_grid() if starts is None else starts
    return min((polish(data, s) for s in starts), key=lambda pair: pair[1])
