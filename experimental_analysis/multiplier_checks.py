"""Why a compute multiplier cannot be trusted, or what to keep in mind reading it, found per family.

UNRELIABLE (a bias the bootstrap interval does not carry): a frontier run whose learning rate is the lowest or
highest its size tried (that size's optimum may lie outside the grid, so the frontier may sit above the family's
real one), E at its upper bound (the frontier flattens at its smallest loss), alpha at a bound.
Caveats (diagnostics.parameter_flag, the rules of the Approach 3 fit): E at its bound 0 (no irreducible loss
found: a pure power law, to be read inside the measured range), E or alpha not pinned by the bootstrap (that
spread is already in the multiplier's interval).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .diagnostics import E_ZERO_FRACTION, parameter_flag
from .kaplan import ALPHA_BOUNDS, KaplanFit

BOUND_TOLERANCE = 1e-6  # relative distance to a bound that counts as at it
LR_COLUMN = "learning_rate"


def interval(values: Sequence[float], confidence: float) -> tuple[float, float]:
    """The central ``confidence`` interval of the finite values (NaN, NaN when there are none)."""
    finite = np.asarray([v for v in values if np.isfinite(v)], float)
    if not len(finite):
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def fit_flags(smallest_loss: float, fit: KaplanFit) -> dict[str, str]:
    """name -> reason the family's L(C) fit makes the multiplier UNRELIABLE: a parameter at a bound that the
    bootstrap interval cannot carry (empty when none)."""
    flags = {}
    if fit.E >= (1 - BOUND_TOLERANCE) * smallest_loss:
        flags["E"] = (f"E = {fit.E:.4g} equals the smallest measured loss (its upper bound): the frontier flattens "
                      "and the law cannot say where it goes")
    low, high = ALPHA_BOUNDS
    if fit.alpha <= low * (1 + BOUND_TOLERANCE) or fit.alpha >= high * (1 - BOUND_TOLERANCE):
        flags["alpha"] = f"alpha = {fit.alpha:.4g} is at its bound ({low:g} or {high:g}): not identified"
    return flags


def fit_caveats(smallest_loss: float, fit: KaplanFit, resamples: Sequence[KaplanFit],
                confidence: float) -> dict[str, str]:
    """name -> caveat on the family's fit that the multiplier's interval already carries, or that matters only
    outside the measured range: E at 0 (a pure power law), E or alpha not pinned by the bootstrap."""
    caveats = {"E": parameter_flag("E", fit.E, interval([r.E for r in resamples], confidence), smallest_loss),
               "alpha": parameter_flag("alpha", fit.alpha, interval([r.alpha for r in resamples], confidence), 1.0)}
    if fit.E < E_ZERO_FRACTION * smallest_loss:  # parameter_flag's "at its bound 0"
        caveats["E"] += "; the law is a pure power law: read it inside the measured range only"
    return {name: text for name, text in caveats.items() if text}


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
