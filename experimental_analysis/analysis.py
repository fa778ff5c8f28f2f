"""What an analysis holds (fits by name, skip reasons, caveats) and the run-level helpers fits share."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from .chinchilla import fit_chinchilla


@dataclass
class Analysis:
    """Fits by name, and for each fit that was skipped, the reason."""

    loss_column: str
    fits: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # caveats on fits that did run
    diagnostics: dict[str, Any] = field(default_factory=dict)  # fit name -> diagnostics.Diagnostics
    definitions: str = "N = total parameters, C = 6ND"  # definitions.describe(): what N and C mean here
    study: str = ""  # what was analysed, for figure titles
    n_label: str = "parameters N (total, count)"  # figure axis labels (definitions.axis_labels)
    c_label: str = "compute C (FLOPs, 6ND)"

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
