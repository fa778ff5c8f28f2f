"""Hoffmann et al. (2022) Approach 3: fit L(N, D) = E + A / N^alpha + B / D^beta to final losses.

Fitted as Hoffmann et al. (section D.2) and Besiroglu et al. (2024, "Chinchilla Scaling: A
replication attempt") did: Huber loss (delta=1e-3) on log loss in the log-sum-exp form, L-BFGS
from a 4,500-point grid, keep the best (huber_lse.py, chinchilla_optimizer.py). Uncertainty
comes from refitting on runs resampled with replacement (chinchilla_bootstrap.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ._checks import positive_inputs, require_distinct, require_points
from .chinchilla_bootstrap import bootstrap_thetas
from .chinchilla_optimizer import LogData, minimise_from_grid
from .huber_lse import HUBER_DELTA, initial_grid

ESTIMATOR = (f"Hoffmann et al. 2022 Approach 3: Huber(delta={HUBER_DELTA:g}) on log loss, log-sum-exp form, "
             "L-BFGS from the 4,500-start grid, best kept")
MIN_RUNS = 4  # below this even a wide-interval fit of 5 parameters is meaningless
PARAMS = ("E", "A", "B", "alpha", "beta")
CONFIDENCE = 0.95  # central percentile interval of the bootstrap draws


def theta_to_params(theta: np.ndarray) -> np.ndarray:
    """(log A, log B, log E, alpha, beta) -> (E, A, B, alpha, beta), along the last axis."""
    theta = np.asarray(theta, dtype=float)
    return np.stack([np.exp(theta[..., 2]), np.exp(theta[..., 0]), np.exp(theta[..., 1]),
                     theta[..., 3], theta[..., 4]], axis=-1)


def _optimal_allocation(params: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """N_opt, D_opt under C = 6 N D (Hoffmann eq. 4); params (..., 5) broadcast against C."""
    E, A, B, alpha, beta = (params[..., [k]] for k in range(5))
    with np.errstate(all="ignore"):
        G = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
        n_opt = G * (C / 6.0) ** (beta / (alpha + beta))
        d_opt = (C / 6.0) ** (alpha / (alpha + beta)) / G
    return n_opt, d_opt


@dataclass(frozen=True)
class ChinchillaFit:
    """Fitted L(N, D) = E + A/N^alpha + B/D^beta, with bootstrap draws for intervals."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    objective: float  # summed Huber loss at the optimum
    n_runs: int
    estimator: str = ESTIMATOR
    draws: np.ndarray = field(default_factory=lambda: np.empty((0, 5)), repr=False)  # (E, A, B, alpha, beta) per resample
    confidence: float = CONFIDENCE

    @property
    def params(self) -> np.ndarray:
        """(E, A, B, alpha, beta) as an array."""
        return np.array([self.E, self.A, self.B, self.alpha, self.beta])

    @property
    def a(self) -> float:
        """Allocation exponent of N_opt ~ C^a: beta / (alpha + beta)."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Allocation exponent of D_opt ~ C^b: alpha / (alpha + beta)."""
        return self.alpha / (self.alpha + self.beta)

    def _interval(self, values: np.ndarray) -> tuple[float, float]:
        """Central percentile interval of bootstrap values (NaN, NaN without draws)."""
        values = values[np.isfinite(values)]
        if values.size == 0:
            return (float("nan"), float("nan"))
        tail = 50.0 * (1.0 - self.confidence)
        lo, hi = np.percentile(values, [tail, 100.0 - tail])
        return (float(lo), float(hi))

    @property
    def intervals(self) -> dict[str, tuple[float, float]]:
        """Percentile intervals of E, A, B, alpha, beta and the allocation exponents a, b."""
        d = self.draws
        out = {name: self._interval(d[:, k]) for k, name in enumerate(PARAMS)}
        with np.errstate(all="ignore"):
            out["a"] = self._interval(d[:, 4] / (d[:, 3] + d[:, 4]))
            out["b"] = self._interval(d[:, 3] / (d[:, 3] + d[:, 4]))
        return out

    def N_opt(self, C) -> np.ndarray:
        """Compute-optimal parameter count for FLOP budget(s) C, under C = 6 N D."""
        return _optimal_allocation(self.params, np.atleast_1d(np.asarray(C, float)))[0].reshape(np.shape(C))

    def D_opt(self, C) -> np.ndarray:
        """Compute-optimal token count for FLOP budget(s) C, under C = 6 N D."""
        return _optimal_allocation(self.params, np.atleast_1d(np.asarray(C, float)))[1].reshape(np.shape(C))

    def N_opt_interval(self, C: float) -> tuple[float, float]:
        """Bootstrap percentile interval of N_opt(C) for one budget C."""
        return self._interval(_optimal_allocation(self.draws, np.array([float(C)]))[0][:, 0])

    def D_opt_interval(self, C: float) -> tuple[float, float]:
        """Bootstrap percentile interval of D_opt(C) for one budget C."""
        return self._interval(_optimal_allocation(self.draws, np.array([float(C)]))[1][:, 0])

    def predict(self, N, D) -> np.ndarray:
        """Predicted loss E + A/N^alpha + B/D^beta (broadcasting N against D)."""
        N, D = np.asarray(N, float), np.asarray(D, float)
        with np.errstate(over="ignore"):  # an unidentified fit (beta in the hundreds) overflows to a 0 term
            return self.E + self.A / N**self.alpha + self.B / D**self.beta

    def to_dict(self) -> dict:
        """JSON-ready summary: point estimates, intervals, allocation exponents."""
        return {"estimator": self.estimator, "n_runs": self.n_runs, "objective": self.objective,
                "params": dict(zip(PARAMS, map(float, self.params))), "a": self.a, "b": self.b,
                "n_bootstrap": int(len(self.draws)), "confidence": self.confidence,
                "intervals": {k: list(v) for k, v in self.intervals.items()}}


def fit_chinchilla(N, D, loss, n_bootstrap: int = 1000, seed: int = 0,
                   starts: Optional[np.ndarray] = None) -> ChinchillaFit:
    """Fit L(N, D) to one final loss per run; n_bootstrap resamples of runs give intervals.

    N: parameter counts, D: training tokens, loss: final losses, one entry per run, all
    positive and finite. `starts` overrides the 4,500-point grid (rows of log A, log B, log E,
    alpha, beta). Raises ValueError for fewer than MIN_RUNS runs or < 2 distinct N or D.
    """
    arrays = positive_inputs("fit_chinchilla", N=N, D=D, loss=loss)
    require_points("fit_chinchilla", len(arrays["loss"]), MIN_RUNS)
    require_distinct("fit_chinchilla", "N", arrays["N"], 2)
    require_distinct("fit_chinchilla", "D", arrays["D"], 2)
    data = LogData(arrays["N"], arrays["D"], arrays["loss"])
    grid = initial_grid() if starts is None else np.asarray(starts, float)
    theta, objective = minimise_from_grid(data, grid)
    draws = bootstrap_thetas(data, theta, grid, n_bootstrap, seed) if n_bootstrap > 0 else np.empty((0, 5))
    E, A, B, alpha, beta = theta_to_params(theta)
    return ChinchillaFit(E=float(E), A=float(A), B=float(B), alpha=float(alpha), beta=float(beta),
                         objective=objective, n_runs=len(arrays["loss"]), draws=theta_to_params(draws))

