"""Best learning rate per model width from learning-rate sweeps."""
from __future__ import annotations

import numpy as np
import pandas as pd

ESTIMATOR = "lowest final loss per width; parabola in log LR through the best LR and its two neighbours"
RESULT_COLUMNS = ["n_learning_rates", "best_lr", "best_loss", "parabola_lr"]


def _parabola_lr(log_lr: np.ndarray, loss: np.ndarray, best: int) -> float:
    """Vertex of the parabola through the best point and its neighbours, NaN at an edge or if concave."""
    if best == 0 or best == len(log_lr) - 1:
        return float("nan")  # the optimum may lie outside the sweep: do not extrapolate
    c2, c1, _ = np.polyfit(log_lr[best - 1:best + 2], loss[best - 1:best + 2], 2)
    return float(np.exp(-c1 / (2 * c2))) if c2 > 0 else float("nan")


def _best_for_width(group: pd.DataFrame, loss_column: str) -> dict:
    """One result row from one sweep's runs (replicates at one LR are averaged)."""
    by_lr = group.groupby("learning_rate")[loss_column].mean().sort_index()
    log_lr, loss = np.log(by_lr.index.to_numpy(float)), by_lr.to_numpy(float)
    best = int(np.argmin(loss))
    return {"n_learning_rates": len(by_lr), "best_lr": float(by_lr.index[best]), "best_loss": float(loss[best]),
            "parabola_lr": _parabola_lr(log_lr, loss, best)}


def sweep_keys(df: pd.DataFrame) -> list[str]:
    """Columns that define one sweep: the width, and the token budget when known."""
    return ["hidden_dim"] + (["tokens"] if "tokens" in df.columns else [])


def best_learning_rates(df: pd.DataFrame, loss_column: str = "final_val_loss") -> pd.DataFrame:
    """Best LR per swept width (and token budget, when df has tokens), from rows with finite loss.

    A sweep is the runs of one width (and one token budget) at 2+ learning rates. Returns one
    row per sweep: the sweep_keys columns, then RESULT_COLUMNS; attrs["estimator"] names the method.
    """
    missing = [c for c in ("hidden_dim", "learning_rate", loss_column) if c not in df.columns]
    if missing:
        raise ValueError(f"best_learning_rates: runs lack column(s) {missing}; "
                         "pass load_runs() output (or any frame with hidden_dim, learning_rate and the loss)")
    usable = df[np.isfinite(df[loss_column].astype(float)) & (df["learning_rate"].astype(float) > 0)]
    keys = sweep_keys(df)
    rows = [{**dict(zip(keys, key)), **_best_for_width(group, loss_column)}
            for key, group in usable.groupby(keys) if group["learning_rate"].nunique() >= 2]
    table = pd.DataFrame(rows, columns=keys + RESULT_COLUMNS)
    table.attrs["estimator"] = ESTIMATOR
    return table
