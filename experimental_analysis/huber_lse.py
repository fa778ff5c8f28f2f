"""The Approach 3 objective of Hoffmann et al. (2022), for many parameter vectors at once.

Parameters theta = (a, b, e, alpha, beta) with A = exp(a), B = exp(b), E = exp(e), and

    predicted log L = LSE(a - alpha log N, b - beta log D, e)          (Hoffmann eq. 10 / D.2)
    objective       = sum_i Huber_delta(predicted log L_i - log L_i),  delta = 1e-3

The log-sum-exp form keeps E, A, B positive and the problem well scaled; Besiroglu et al.
(2024) showed the fit is sensitive to stopping early, so the objective comes with its exact
gradient and the optimisers run to tight tolerances.
"""
from __future__ import annotations

import itertools
from typing import Optional

import numpy as np

HUBER_DELTA = 1e-3  # Hoffmann et al. 2022, section D.2
PARAM_NAMES = ("log_A", "log_B", "log_E", "alpha", "beta")  # order of theta's columns

# Hoffmann et al.'s initialisation grid, as replicated by Besiroglu et al. (2024): 4,500 starts.
GRID_ALPHA = GRID_BETA = (0.0, 0.5, 1.0, 1.5, 2.0)
GRID_E = (-1.0, -0.5, 0.0, 0.5, 1.0)
GRID_A = GRID_B = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)


def initial_grid() -> np.ndarray:
    """The 4,500 starting points, one per row, columns in PARAM_NAMES order."""
    return np.array(list(itertools.product(GRID_A, GRID_B, GRID_E, GRID_ALPHA, GRID_BETA)))


def log_predict(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray) -> np.ndarray:
    """Predicted log loss for one theta (5,) at points (n,), or for thetas (B, 5) -> (B, n)."""
    return _softmax_parts(np.atleast_2d(theta), log_n, log_d)[0].reshape(np.shape(theta)[:-1] + (-1,))


def _softmax_parts(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray):
    """LSE of the three terms and the softmax weight of each term, shapes (B, n)."""
    a, b, e, alpha, beta = (theta[:, [k]] for k in range(5))
    u1, u2 = a - alpha * log_n, b - beta * log_d
    u3 = np.broadcast_to(e, u1.shape)
    top = np.maximum(np.maximum(u1, u2), u3)
    x1, x2, x3 = np.exp(u1 - top), np.exp(u2 - top), np.exp(u3 - top)
    total = x1 + x2 + x3
    return top + np.log(total), x1 / total, x2 / total, x3 / total


def huber(residual: np.ndarray, delta: float = HUBER_DELTA) -> np.ndarray:
    """Huber loss: quadratic within delta, linear beyond (same slope at the join)."""
    magnitude = np.abs(residual)
    return np.where(magnitude <= delta, 0.5 * residual**2, delta * (magnitude - 0.5 * delta))


def objective_and_grad(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, log_loss: np.ndarray,
                       weights: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """Summed Huber objective (B,) and its gradient (B, 5) for thetas (B, 5).

    weights (n,) or (B, n) multiply each point's term: bootstrap resamples are count weights.
    einsum, not @: a matrix-vector product goes to multithreaded BLAS, which on a loaded machine
    made the scipy polish (one theta at a time) 10-30x slower.
    """
    pred, p1, p2, p3 = _softmax_parts(theta, log_n, log_d)
    residual = pred - log_loss
    loss_terms, slope = huber(residual), np.clip(residual, -HUBER_DELTA, HUBER_DELTA)
    if weights is not None:
        loss_terms, slope = loss_terms * weights, slope * weights
    w1, w2 = slope * p1, slope * p2
    grad = np.stack([w1.sum(1), w2.sum(1), (slope * p3).sum(1),
                     -np.einsum("bn,n->b", w1, log_n), -np.einsum("bn,n->b", w2, log_d)], axis=1)
    return loss_terms.sum(1), grad
