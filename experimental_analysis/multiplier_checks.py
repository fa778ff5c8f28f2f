"""Why a compute multiplier cannot be trusted, found per family and printed with it.

A family's L(C) fit (4 sizes at least, multiplier.frontier) is flagged when E sits at a bound (0: no irreducible loss found; the smallest measured loss: the
frontier flattens and the law cannot say where it goes), when alpha sits at a bound, or when the bootstrap
leaves E or alpha unpinned (diagnostics.parameter_flag, the rules of the Approach 3 fit). A frontier run is
flagged when its learning rate is the lowest or highest its size tried: that size's optimum may lie outside the
grid, so the frontier may sit above the family's real one.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .diagnostics import parameter_flag
from .kaplan import KaplanFit

ALPHA_BOUNDS = (1e-4, 10.0)  # kaplan.fit_kaplan's bounds on alpha
BOUND_TOLERANCE = 1e-6  # relative distance to a bound that counts as at it
LR_COLUMN = "learning_rate"


def _interval(values: Sequence[float], confidence: float) -> tuple[float, float]:
    finite = np.asarray([v for v in values if np.isfinite(v)], float)
    if not len(finite):
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def _e_flag(fit: KaplanFit, smallest_loss: float, interval: tuple[float, float]) -> str:
    if fit.E >= (1 - BOUND_TOLERANCE) * smallest_loss:
        return (f"E = {fit.E:.4g} equals the smallest measured loss (its upper bound): the frontier flattens and "
                "the law cannot say where it goes")
    return parameter_flag("E", fit.E, interval, smallest_loss)


def _alpha_flag(fit: KaplanFit, interval: tuple[float, float]) -> str:
    low, high = ALPHA_BOUNDS
    if fit.alpha <= low * (1 + BOUND_TOLERANCE) or fit.alpha >= high * (1 - BOUND_TOLERANCE):
        return f"alpha = {fit.alpha:.4g} is at its bound ({low:g} or {high:g}): not identified"
    return parameter_flag("alpha", fit.alpha, interval, 1.0)


def fit_flags(smallest_loss: float, fit: KaplanFit, resamples: Sequence[KaplanFit],
              confidence: float) -> dict[str, str]:
    """name -> reason, for each way this family's L(C) fit is not to be trusted (empty when none)."""
    flags = {}
    flags["E"] = _e_flag(fit, smallest_loss, _interval([r.E for r in resamples], confidence))
    flags["alpha"] = _alpha_flag(fit, _interval([r.alpha for r in resamples], confidence))
    return {name: reason for name, reason in flags.items() if reason}


def lr_edge_flags(best: pd.DataFrame, usable: pd.DataFrame, size_column: str) -> list[str]:
    """One line per frontier run whose learning rate is its size's lowest or highest (sizes with 2+ rates)."""
    if LR_COLUMN not in usable.columns:
        return []
    flags = []
    for _, run in best.iterrows():
        rates = usable.loc[usable[size_column] == run[size_column], LR_COLUMN].astype(float)
        if rates.nunique() < 2:
            continue
        edge = "lowest" if run[LR_COLUMN] == rates.min() else "highest" if run[LR_COLUMN] == rates.max() else ""
        if edge:
            averaged = f" (mean of {int(run['runs'])} seeds)" if run.get("runs", 1) > 1 else ""
            flags.append(f"{run['label']}{averaged}: best at the {edge} learning rate tried ({run[LR_COLUMN]:g} of "
                         f"{rates.min():g}-{rates.max():g}); this size's optimum may lie outside the grid")
    return flags
