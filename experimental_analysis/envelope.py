"""Hoffmann et al. (2022) Approach 1: the minimum over training curves at fixed FLOPs.

Every run's training curve is interpolated (in log FLOPs) onto a shared FLOP grid; at each
grid point the envelope is the lowest loss of any run there and N_opt is that run's size.
A power law N_opt = k C^a through the envelope gives the allocation exponent.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .power_law import PowerLaw, fit_power_law

ESTIMATOR = "Hoffmann et al. 2022 Approach 1: min loss over training curves at fixed FLOPs, power law of N at the min"
N_GRID = 200  # log-spaced FLOP values where the envelope is taken
REQUIRED_COLUMNS = ("run", "total_params", "flops", "loss")


@dataclass(frozen=True)
class EnvelopeFit:
    """The envelope on the FLOP grid and the N_opt(C) power law through it."""

    flops: np.ndarray
    loss: np.ndarray  # lowest loss at each grid FLOP value
    N_opt: np.ndarray  # size of the run achieving it
    n_law: PowerLaw
    estimator: str = ESTIMATOR

    @property
    def a(self) -> float:
        """Exponent of N_opt ~ C^a."""
        return self.n_law.exponent

    def to_dict(self) -> dict:
        """JSON-ready summary (the grid is left out; it is in the plot)."""
        return {"estimator": self.estimator, "a": self.a, "N_law": self.n_law.to_dict(),
                "distinct_N_on_envelope": int(len(np.unique(self.N_opt)))}


def _check_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """Finite, positive rows of the required columns; raises if columns or runs are missing."""
    missing = [c for c in REQUIRED_COLUMNS if c not in curves.columns]
    if missing:
        raise ValueError(f"fit_envelope: curves lack column(s) {missing}; need {list(REQUIRED_COLUMNS)} "
                         "(one row per step; load_curves provides them with run = folder/label)")
    data = curves.loc[:, list(REQUIRED_COLUMNS)].copy()
    numeric = data[["total_params", "flops", "loss"]].astype(float)
    data = data[np.isfinite(numeric).all(axis=1) & (numeric > 0).all(axis=1)]
    if data["total_params"].nunique() < 2:
        raise ValueError("fit_envelope: needs finite training curves from at least 2 model sizes, "
                         f"got {data['total_params'].nunique()}")
    return data


def _interpolated_losses(data: pd.DataFrame, log_grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(runs x grid) loss matrix, inf where a run's curve does not reach, and each run's N."""
    losses, sizes = [], []
    for _, run in data.groupby("run", sort=False):
        run = run.sort_values("flops")
        log_c = np.log(run["flops"].to_numpy(float))
        row = np.interp(log_grid, log_c, run["loss"].to_numpy(float))
        row[(log_grid < log_c[0]) | (log_grid > log_c[-1])] = np.inf
        losses.append(row)
        sizes.append(float(run["total_params"].iloc[0]))
    return np.array(losses), np.array(sizes)


def fit_envelope(curves: pd.DataFrame, n_grid: int = N_GRID) -> EnvelopeFit:
    """Approach 1 from per-step rows (run, total_params, flops, loss); needs 2+ sizes on the envelope."""
    data = _check_curves(curves)
    flops = data["flops"].to_numpy(float)
    log_grid = np.linspace(np.log(flops.min()), np.log(flops.max()), n_grid)
    losses, sizes = _interpolated_losses(data, log_grid)
    covered = np.isfinite(losses).any(axis=0)
    best = np.argmin(losses[:, covered], axis=0)
    grid, n_opt = np.exp(log_grid[covered]), sizes[best]
    if len(np.unique(n_opt)) < 2:
        raise ValueError("fit_envelope: a single model size is lowest at every FLOP value; "
                         "needs runs of several sizes whose curves cross")
    return EnvelopeFit(flops=grid, loss=losses[best, np.flatnonzero(covered)], N_opt=n_opt,
                       n_law=fit_power_law(grid, n_opt, "fit_envelope"))
