"""Best learning rate per model width from learning-rate sweeps, per parametrization (SP, muP, CompleteP)."""
from __future__ import annotations

import numpy as np
import pandas as pd

ESTIMATOR = ("lowest mean final loss (over seeds) per width and parametrization; parabola in log LR through the "
             "best LR and its two neighbours")
RESULT_COLUMNS = ["n_learning_rates", "best_lr", "best_loss", "seeds", "seed_sd", "parabola_lr", "lr_shift_log2"]


def parametrization(row: pd.Series) -> str:
    """'SP', 'muP' or 'CompleteP (alpha a)' from a run's use_mup and completep_alpha (absent: SP)."""
    use_mup = row.get("use_mup", False)
    if not (isinstance(use_mup, (bool, np.bool_)) and use_mup):
        return "SP"
    alpha = row.get("completep_alpha", 0.0)
    alpha = 0.0 if alpha is None or alpha != alpha else float(alpha)
    return "muP" if alpha == 0.0 else f"CompleteP (alpha {alpha:g})"


def with_parametrization(df: pd.DataFrame) -> pd.DataFrame:
    """df with a 'parametrization' column (see parametrization), added when it is missing."""
    if "parametrization" in df.columns:
        return df
    labels = [parametrization(row) for _, row in df.iterrows()]
    return df.assign(parametrization=pd.Series(labels, index=df.index, dtype=object))


def _parabola_lr(log_lr: np.ndarray, loss: np.ndarray, best: int) -> float:
    """Vertex of the parabola through the best point and its neighbours, NaN at an edge or if concave."""
    if best == 0 or best == len(log_lr) - 1:
        return float("nan")  # the optimum may lie outside the sweep: do not extrapolate
    c2, c1, _ = np.polyfit(log_lr[best - 1:best + 2], loss[best - 1:best + 2], 2)
    return float(np.exp(-c1 / (2 * c2))) if c2 > 0 else float("nan")


def _best_for_width(group: pd.DataFrame, loss_column: str) -> dict:
    """One result row from one sweep's runs (replicates at one LR are averaged; their sd is the seed spread)."""
    by_lr = group.groupby("learning_rate")[loss_column]
    mean = by_lr.mean().sort_index()
    log_lr, loss = np.log(mean.index.to_numpy(float)), mean.to_numpy(float)
    best = int(np.argmin(loss))
    at_best = group[group["learning_rate"] == mean.index[best]][loss_column].astype(float)
    return {"n_learning_rates": len(mean), "best_lr": float(mean.index[best]), "best_loss": float(loss[best]),
            "seeds": len(at_best), "seed_sd": float(at_best.std(ddof=1)) if len(at_best) > 1 else float("nan"),
            "parabola_lr": _parabola_lr(log_lr, loss, best)}


SIZE_KEYS = ("hidden_dim", "num_layers", "tokens")  # what changes along a ladder; the other keys name the arm


def sweep_keys(df: pd.DataFrame) -> list[str]:
    """Columns that define one sweep: the parametrization, the architecture when there are several, then the
    width and, when known, the depth and the token budget."""
    several_architectures = "architecture" in df.columns and df["architecture"].nunique() > 1
    arm = ["parametrization"] * ("parametrization" in df.columns) + ["architecture"] * several_architectures
    return arm + [k for k in SIZE_KEYS if k == "hidden_dim" or k in df.columns]


def _lr_shift(table: pd.DataFrame, keys: list[str]) -> pd.Series:
    """log2(best LR / best LR of the smallest swept size (width, then depth) of the same arm): the drift."""
    arm = [k for k in keys if k not in SIZE_KEYS]
    smallest = table.sort_values([k for k in SIZE_KEYS if k in keys]).groupby(arm)["best_lr"].transform("first")
    return np.log2(table["best_lr"] / smallest.reindex(table.index))


def best_learning_rates(df: pd.DataFrame, loss_column: str = "final_val_loss") -> pd.DataFrame:
    """Best LR per swept width and parametrization (and token budget, when df has tokens), from rows with
    finite loss.

    A sweep is the runs of one width (one parametrization, one token budget) at 2+ learning rates; seeds at
    one LR are averaged. Returns one row per sweep: the sweep_keys columns, then RESULT_COLUMNS (seed_sd: sd
    of the loss over seeds at the best LR; lr_shift_log2: factor-2 steps from the best LR of the arm's smallest
    size, by width then depth);
    attrs["estimator"] names the method.
    """
    missing = [c for c in ("hidden_dim", "learning_rate", loss_column) if c not in df.columns]
    if missing:
        raise ValueError(f"best_learning_rates: runs lack column(s) {missing}; "
                         "pass load_runs() output (or any frame with hidden_dim, learning_rate and the loss)")
    usable = with_parametrization(df[np.isfinite(df[loss_column].astype(float))
                                     & (df["learning_rate"].astype(float) > 0)])
    keys = sweep_keys(usable)
    rows = [{**dict(zip(keys, key if isinstance(key, tuple) else (key,))), **_best_for_width(group, loss_column)}
            for key, group in usable.groupby(keys) if group["learning_rate"].nunique() >= 2]
    table = pd.DataFrame(rows, columns=keys + RESULT_COLUMNS[:-1])
    table["lr_shift_log2"] = _lr_shift(table, keys) if not table.empty else []
    table.attrs["estimator"] = ESTIMATOR
    return table
