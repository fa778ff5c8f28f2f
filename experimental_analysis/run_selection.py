"""Which runs enter the scaling fits, and why the others do not (never silently)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from scaling_laws.status import RunStatus

from .final_loss import divergence_reason


def choose_loss_column(runs: pd.DataFrame) -> str:
    """final_val_loss when every complete run has one, else final_loss."""
    complete = runs[runs["status"] == RunStatus.COMPLETE]
    has_val = len(complete) > 0 and np.isfinite(complete["final_val_loss"].astype(float)).all()
    return "final_val_loss" if has_val else "final_loss"


def _exclusion_reason(run, loss_column: str) -> str:
    """Why one run cannot be fitted, or '' if it can."""
    if run["status"] != RunStatus.COMPLETE:
        return f"status {run['status']}"
    if not np.isfinite(float(run[loss_column])):
        return f"{loss_column} is not finite"
    best_column = loss_column.replace("final_", "best_", 1)
    if best_column in run.index:
        diverged = divergence_reason(float(run[loss_column]), float(run[best_column]), loss_column[len("final_"):])
        if diverged:
            return diverged
    values = [float(run[c]) if run[c] is not None else float("nan") for c in ("total_params", "tokens", "flops")]
    if not all(np.isfinite(v) and v > 0 for v in values):
        return "missing or non-positive total_params/tokens/flops"
    return ""


def _suboptimal_lr(runs: pd.DataFrame, loss_column: str) -> pd.Series:
    """True for runs whose learning rate is not the best (mean loss) among runs with the same N and D."""
    mean_loss = runs.groupby(["total_params", "tokens", "learning_rate"])[loss_column].transform("mean")
    best = mean_loss.groupby([runs["total_params"], runs["tokens"]]).transform("min")
    return mean_loss > best


def select_runs(runs: pd.DataFrame, loss_column: str) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """(runs to fit, [(folder/label, reason) for each excluded run]).

    Excluded: not complete (incomplete or diverged), non-finite loss, finite but diverged (final
    above DIVERGENCE_RATIO x the run's best, final_loss.py), unknown size, and, in
    learning-rate sweeps, every LR but the best for its (N, D): the laws describe tuned runs.
    """
    reasons = runs.apply(lambda run: _exclusion_reason(run, loss_column), axis=1)
    usable = runs[reasons == ""]
    excluded = [(f"{r.folder}/{r.label}", why) for r, why in zip(runs.itertuples(), reasons) if why]
    if "learning_rate" in usable.columns and len(usable):
        worse = _suboptimal_lr(usable, loss_column)
        excluded += [(f"{r.folder}/{r.label}", "not the best learning rate for its (N, D)")
                     for r in usable[worse].itertuples()]
        usable = usable[~worse]
    return usable.reset_index(drop=True), excluded
