"""Kaplan et al. (2020) single-variable laws with an irreducible term: L(x) = E + (x_c / x)^alpha.

Used for L(N), L(D) and L(C). Fitted by least squares on log loss (relative errors, so small
and large losses weigh alike), with log E, log x_c, alpha as parameters and several starts;
E is kept below the smallest observed loss, as an irreducible loss must be.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from ._checks import positive_inputs, require_distinct, require_points

ESTIMATOR = "Kaplan et al. 2020 form L = E + (x_c/x)^alpha, least squares on log loss, multi-start TRF"
MIN_POINTS = 4  # three parameters plus one degree of freedom
START_ALPHAS = (0.05, 0.1, 0.2, 0.4, 0.8)
START_E_FRACTIONS = (1e-6, 0.5, 0.9)  # E as a fraction of the smallest loss
LOG_E_FLOOR = -30.0  # E >= e^-30: effectively "no irreducible term"
ALPHA_BOUNDS = (1e-4, 10.0)  # the exponent's search range


@dataclass(frozen=True)
class KaplanFit:
    """L(x) = E + (x_c / x)^alpha for one variable x (N, D or C)."""

    E: float
    x_c: float
    alpha: float
    variable: str
    rms_log_residual: float  # root mean square of log(pred) - log(loss)
    n_points: int
    estimator: str = ESTIMATOR

    def predict(self, x) -> np.ndarray:
        """Predicted loss at x."""
        return self.E + (self.x_c / np.asarray(x, float)) ** self.alpha

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {"estimator": self.estimator, "variable": self.variable, "E": self.E, "x_c": self.x_c,
                "alpha": self.alpha, "rms_log_residual": self.rms_log_residual, "n_points": self.n_points}


def _residuals(theta: np.ndarray, log_x: np.ndarray, log_loss: np.ndarray) -> np.ndarray:
    """log(E + exp(alpha (log x_c - log x))) - log L."""
    log_e, log_xc, alpha = theta
    return np.logaddexp(log_e, alpha * (log_xc - log_x)) - log_loss


def _jacobian(theta: np.ndarray, log_x: np.ndarray, log_loss: np.ndarray) -> np.ndarray:
    """Derivatives of the residuals by (log E, log x_c, alpha)."""
    log_e, log_xc, alpha = theta
    term = alpha * (log_xc - log_x)
    share_e = np.exp(log_e - np.logaddexp(log_e, term))
    share_t = 1.0 - share_e
    return np.stack([share_e, share_t * alpha, share_t * (log_xc - log_x)], axis=1)


def _starts(log_x: np.ndarray, loss: np.ndarray) -> list[np.ndarray]:
    """Starting points: for each (alpha, E) pair, the x_c that fits the data on average."""
    starts = []
    for alpha, fraction in itertools.product(START_ALPHAS, START_E_FRACTIONS):
        E = fraction * loss.min()
        log_xc = np.mean(log_x + np.log(loss - E) / alpha)
        starts.append(np.array([max(np.log(E), LOG_E_FLOOR + 1), log_xc, alpha]))
    return starts


def fit_kaplan(x, loss, variable: str = "x") -> KaplanFit:
    """Fit L(x) = E + (x_c/x)^alpha; needs MIN_POINTS positive points with 3+ distinct x."""
    arrays = positive_inputs("fit_kaplan", x=x, loss=loss)
    require_points("fit_kaplan", len(arrays["x"]), MIN_POINTS, "points")
    require_distinct("fit_kaplan", "x", arrays["x"], 3)
    log_x, log_loss = np.log(arrays["x"]), np.log(arrays["loss"])
    upper_log_e = log_loss.min() - 1e-9
    bounds = ([LOG_E_FLOOR, -np.inf, ALPHA_BOUNDS[0]], [upper_log_e, np.inf, ALPHA_BOUNDS[1]])
    fits = [least_squares(_residuals, start, jac=_jacobian,
                          bounds=bounds, args=(log_x, log_loss), method="trf", x_scale="jac",
                          ftol=1e-14, xtol=1e-14, gtol=1e-14, max_nfev=5000)
            for start in _starts(log_x, arrays["loss"])]
    best = min(fits, key=lambda r: r.cost)
    log_e, log_xc, alpha = best.x
    return KaplanFit(E=float(np.exp(log_e)), x_c=float(np.exp(log_xc)), alpha=float(alpha), variable=variable,
                     rms_log_residual=float(np.sqrt(np.mean(best.fun**2))), n_points=len(log_x))
