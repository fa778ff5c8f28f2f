"""Hoffmann et al. (2022) Approach 2: IsoFLOP profiles.

Runs sharing a compute budget C form one profile; a parabola of loss in log N through each
profile gives that budget's optimal N (its vertex) and D_opt = C / (6 N_opt). Power laws
N_opt = k C^a and D_opt = k' C^b are then fitted in log-log space.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._checks import positive_inputs, require_points
from .power_law import PowerLaw, fit_power_law

ESTIMATOR = "Hoffmann et al. 2022 Approach 2: parabola of loss in log N per FLOP budget, power law of the minima"
BUDGET_RTOL = 0.05  # runs whose C differ by less than 5% share a budget
MIN_SIZES_PER_BUDGET = 3  # a parabola needs three distinct N


@dataclass(frozen=True)
class IsoflopFit:
    """Per-budget optima and the power laws through them."""

    budgets: np.ndarray  # C of each usable profile
    N_opt: np.ndarray  # parabola vertex per budget
    D_opt: np.ndarray  # C / (6 N_opt)
    loss_opt: np.ndarray  # parabola value at the vertex
    parabolas: list  # (c2, c1, c0) of loss = c2 x^2 + c1 x + c0, x = log N, per budget
    n_law: PowerLaw  # N_opt = k C^a
    d_law: PowerLaw  # D_opt = k' C^b
    skipped: dict = field(default_factory=dict)  # budget -> why its profile was not used
    estimator: str = ESTIMATOR

    @property
    def a(self) -> float:
        """Exponent of N_opt ~ C^a."""
        return self.n_law.exponent

    @property
    def b(self) -> float:
        """Exponent of D_opt ~ C^b."""
        return self.d_law.exponent

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {"estimator": self.estimator, "a": self.a, "b": self.b, "N_law": self.n_law.to_dict(),
                "D_law": self.d_law.to_dict(), "budgets": self.budgets.tolist(), "N_opt": self.N_opt.tolist(),
                "D_opt": self.D_opt.tolist(), "loss_opt": self.loss_opt.tolist(),
                "skipped": {f"{c:.4g}": why for c, why in self.skipped.items()}}


def group_budgets(C: np.ndarray, rtol: float = BUDGET_RTOL) -> np.ndarray:
    """Budget id per run: sorted C values closer than rtol (relative) to the previous share an id."""
    order = np.argsort(C)
    new_group = np.r_[True, np.diff(np.log(C[order])) > np.log1p(rtol)]
    ids = np.empty(len(C), int)
    ids[order] = np.cumsum(new_group) - 1
    return ids


def _vertex(log_n: np.ndarray, loss: np.ndarray):
    """(x_min, loss_min, coefficients) of the parabola through one profile, or a reason string."""
    if len(np.unique(log_n)) < MIN_SIZES_PER_BUDGET:
        return f"only {len(np.unique(log_n))} distinct model sizes (need {MIN_SIZES_PER_BUDGET})"
    c2, c1, c0 = np.polyfit(log_n, loss, 2)
    if c2 <= 0:
        return "loss is not convex in log N (no minimum)"
    x_min = -c1 / (2 * c2)
    if not log_n.min() <= x_min <= log_n.max():
        return "minimum lies outside the sampled model sizes"
    return x_min, c0 - c1**2 / (4 * c2), (c2, c1, c0)


def fit_isoflop(N, D, loss, C) -> IsoflopFit:
    """Approach 2 from one row per run (N, D, final loss, compute C); needs 2+ usable budgets.

    D is checked for positivity but the optimal D per budget is C / (6 N_opt).
    """
    arrays = positive_inputs("fit_isoflop", N=N, D=D, loss=loss, C=C)
    require_points("fit_isoflop", len(arrays["N"]), 2 * MIN_SIZES_PER_BUDGET)
    ids = group_budgets(arrays["C"])
    rows, skipped = [], {}
    for gid in np.unique(ids):
        mask = ids == gid
        budget = float(np.exp(np.mean(np.log(arrays["C"][mask]))))
        result = _vertex(np.log(arrays["N"][mask]), arrays["loss"][mask])
        if isinstance(result, str):
            skipped[budget] = result
        else:
            rows.append((budget, np.exp(result[0]), result[1], result[2]))
    if len(rows) < 2:
        hint = ("; most budgets hold too few sizes: the C values look unsnapped, round each run's C to its "
                "nominal budget" if len(skipped) > 2 * max(len(rows), 1) else "")
        listed = {f"{c:.3g}": why for c, why in skipped.items()}
        raise ValueError(f"fit_isoflop: needs at least 2 compute budgets with {MIN_SIZES_PER_BUDGET}+ model "
                         f"sizes and a minimum inside them, got {len(rows)} (runs within {BUDGET_RTOL:.0%} of "
                         f"each other's C share a budget); skipped budgets: {listed}{hint}")
    budgets, n_opt, loss_opt = (np.array([r[k] for r in rows]) for k in range(3))
    d_opt = budgets / (6 * n_opt)
    return IsoflopFit(budgets=budgets, N_opt=n_opt, D_opt=d_opt, loss_opt=loss_opt, parabolas=[r[3] for r in rows],
                      n_law=fit_power_law(budgets, n_opt, "fit_isoflop"),
                      d_law=fit_power_law(budgets, d_opt, "fit_isoflop"), skipped=skipped)
