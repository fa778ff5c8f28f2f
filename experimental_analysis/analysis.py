"""Run every fit the data allow; a fit that cannot run records why instead of stopping the rest."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from .chinchilla import fit_chinchilla
from .envelope import fit_envelope
from .isoflop import fit_isoflop
from .kaplan import fit_kaplan
from .learning_rate import best_learning_rates


@dataclass
class Analysis:
    """Fits by name, and for each fit that was skipped, the reason."""

    loss_column: str
    fits: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # caveats on fits that did run

    def attempt(self, name: str, make: Callable[[], Any]) -> None:
        """Store make()'s result under name, or the ValueError's message as the skip reason."""
        try:
            self.fits[name] = make()
        except ValueError as error:
            self.skipped[name] = str(error)


def lowest_loss_per(runs: pd.DataFrame, column: str, loss_column: str) -> pd.DataFrame:
    """For each distinct value of column, the run with the lowest loss (Kaplan's L(N), L(D))."""
    return runs.loc[runs.groupby(column)[loss_column].idxmin()]


def compute_frontier(runs: pd.DataFrame, loss_column: str) -> pd.DataFrame:
    """Runs no cheaper run beats: the loss-vs-compute Pareto frontier, sorted by flops."""
    ordered = runs.sort_values("flops")
    running_min = ordered[loss_column].cummin()
    return ordered[ordered[loss_column] <= running_min]


def identifiability_notes(N: np.ndarray, D: np.ndarray) -> list[str]:
    """Caveats when the runs cannot pin down all five Approach 3 parameters."""
    notes = []
    if len(N) < 10:
        notes.append(f"only {len(N)} runs for 5 Approach 3 parameters: expect wide intervals")
    if len(N) > 2 and abs(np.corrcoef(np.log(N), np.log(D))[0, 1]) > 0.99:
        notes.append("N and D move together (fixed tokens per parameter): the N and D terms cannot be "
                     "separated; vary D at fixed N for a meaningful Approach 3 fit")
    return notes


def extrapolation_check(runs: pd.DataFrame, loss_column: str) -> dict:
    """Refit Approach 3 without the largest model size; relative error of its predicted losses."""
    largest = runs["total_params"].max()
    train, held_out = runs[runs["total_params"] < largest], runs[runs["total_params"] == largest]
    fit = fit_chinchilla(train["total_params"], train["tokens"], train[loss_column], n_bootstrap=0)
    predicted = fit.predict(held_out["total_params"].to_numpy(float), held_out["tokens"].to_numpy(float))
    observed = held_out[loss_column].to_numpy(float)
    relative = (predicted - observed) / observed
    return {"held_out_N": float(largest), "n_train": len(train), "n_held_out": len(held_out),
            "relative_errors": relative.tolist(), "mean_abs_relative_error": float(np.mean(np.abs(relative))),
            "max_abs_relative_error": float(np.max(np.abs(relative)))}


def run_all_fits(runs: pd.DataFrame, curves: pd.DataFrame, loss_column: str, n_bootstrap: int,
                 lr_runs: pd.DataFrame, seed: int = 0) -> Analysis:
    """Approach 3 (+ extrapolation check), Approach 2, Approach 1, Kaplan L(N), L(D), L(C), best LRs.

    runs: the selected runs (one tuned LR per N, D); curves: their training curves; lr_runs:
    all finished runs, sweeps included, for the best-LR table.
    """
    result = Analysis(loss_column)
    N, D, C, L = (runs[c].to_numpy(float) for c in ("total_params", "tokens", "flops", loss_column))
    result.attempt("chinchilla", lambda: fit_chinchilla(N, D, L, n_bootstrap=n_bootstrap, seed=seed))
    if "chinchilla" in result.fits:
        result.notes += identifiability_notes(N, D)
    result.attempt("extrapolation", lambda: extrapolation_check(runs, loss_column))
    result.attempt("isoflop", lambda: fit_isoflop(N, D, L, C))
    result.attempt("envelope", lambda: fit_envelope(curves))
    for column, variable in (("total_params", "N"), ("tokens", "D")):
        best = lowest_loss_per(runs, column, loss_column)
        result.attempt(f"kaplan_{variable}", lambda b=best, c=column, v=variable: fit_kaplan(b[c], b[loss_column], v))
    frontier = compute_frontier(runs, loss_column)
    result.attempt("kaplan_C", lambda: fit_kaplan(frontier["flops"], frontier[loss_column], "C"))
    result.attempt("learning_rates", lambda: _learning_rates_or_skip(lr_runs, loss_column))
    return result


def _learning_rates_or_skip(runs: pd.DataFrame, loss_column: str) -> pd.DataFrame:
    """best_learning_rates, raising ValueError when no width was swept."""
    table = best_learning_rates(runs, loss_column)
    if table.empty:
        raise ValueError("no learning-rate sweep: no width was trained at 2+ learning rates")
    return table
