"""The CLI's printed table and fit.json, from an Analysis."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .analysis import Analysis
from .final_loss import DIVERGENCE_RATIO, RULE
from .isoflop import BUDGET_RTOL


def _interval(pair) -> str:
    """'[lo, hi]' or '' when there is no bootstrap."""
    return "" if pair is None or not np.all(np.isfinite(pair)) else f"[{pair[0]:.4g}, {pair[1]:.4g}]"


def chinchilla_lines(fit) -> list[str]:
    """Parameters with intervals and the allocation exponents (predictions: diagnostics.py)."""
    ci = fit.intervals
    level = f"{100 * fit.confidence:.0f}% bootstrap, {len(fit.draws)} resamples"
    lines = [f"Approach 3 ({fit.n_runs} runs): {fit.estimator}", f"  {'param':<8}{'estimate':>12}  interval ({level})"]
    for name in ("E", "A", "B", "alpha", "beta", "a", "b"):
        lines.append(f"  {name:<8}{getattr(fit, name):>12.4g}  {_interval(ci[name])}")
    return lines


def extrapolation_lines(x: dict) -> list[str]:
    return [f"Extrapolation (largest N={x['held_out_N']:.4g} held out, {x['n_train']} runs refit): "
            f"mean |rel. error| {x['mean_abs_relative_error']:.2%}, max {x['max_abs_relative_error']:.2%}"]


def isoflop_lines(fit) -> list[str]:
    """The exponents, how runs were grouped into budgets, and a hint when the budgets look unsnapped."""
    groups = len(fit.budgets) + len(fit.skipped)
    lines = [f"Approach 2 ({len(fit.budgets)} budgets): N_opt ~ C^{fit.a:.3f}, D_opt ~ C^{fit.b:.3f}",
             f"  runs whose C differ by less than {BUDGET_RTOL:.0%} share a budget: {groups} budgets, "
             f"{len(fit.skipped)} not used"]
    lines += [f"  budget C={c:.3g} not used: {why}" for c, why in list(fit.skipped.items())[:5]]
    if len(fit.skipped) > 2 * len(fit.budgets):
        lines.append(f"  FLAG most budgets hold too few sizes: the C values look unsnapped (e.g. digitised); "
                     "round each run's C to its nominal budget before fitting")
    return lines


def envelope_lines(fit) -> list[str]:
    return [f"Approach 1 (envelope of training curves): N_opt ~ C^{fit.a:.3f}"]


def kaplan_lines(fit) -> list[str]:
    return [f"Kaplan L({fit.variable}) = {fit.E:.4g} + ({fit.x_c:.4g}/{fit.variable})^{fit.alpha:.4g}"
            f"  (rms log residual {fit.rms_log_residual:.2g}, {fit.n_points} points)"]


def learning_rate_lines(table) -> list[str]:
    """The best-LR table, how far each parametrization's optimum drifts, best loss by arm, and grid-edge flags."""
    lines = [f"Best learning rate per size ({table.attrs.get('estimator', '')}):"]
    lines += ["  " + line for line in table.to_string(index=False, float_format="%.4g").splitlines()]
    for arm, rows in table.groupby("parametrization"):
        shifts = rows["lr_shift_log2"]
        lines.append(f"  {arm}: best LR moves {shifts.min():+.3g} .. {shifts.max():+.3g} factor-2 steps from "
                     f"{_size(rows.iloc[0])} to {_size(rows.iloc[-1])} (largest shift {shifts.abs().max():.3g})")
    if table["parametrization"].nunique() > 1:
        lines += _best_loss_by_arm(table)
    edge = table[table["parabola_lr"].isna() & (table["n_learning_rates"] >= 3)]
    return lines + [f"  FLAG {row['parametrization']}, {_size(row)}: best LR {row['best_lr']:.3g} is at the sweep's "
                    "edge or the curve is not convex there: the optimum may lie outside the grid"
                    for _, row in edge.iterrows()]


def _size(row) -> str:
    """'width 256' or 'width 256, 8 layers' for a row of the best-LR table."""
    return f"width {row['hidden_dim']}" + (f", {row['num_layers']} layers" if "num_layers" in row.index else "")


def _best_loss_by_arm(table) -> list[str]:
    """Per size: each parametrization's best loss with its seed sd (the spread a difference must beat)."""
    lines = ["  best loss by parametrization (mean over seeds +- sd over seeds at the best LR):"]
    sizes = [k for k in ("hidden_dim", "num_layers") if k in table.columns]
    for _, rows in table.groupby(sizes):
        cells = [f"{r['parametrization']} {r['best_loss']:.4f}" + (f" +- {r['seed_sd']:.4f}" if r["seed_sd"] == r["seed_sd"]
                                                          else "") for _, r in rows.iterrows()]
        lines.append(f"    {_size(rows.iloc[0])}: " + ", ".join(cells))
    return lines


def header_lines(analysis: Analysis, excluded: list[tuple[str, str]], n_used: int) -> list[str]:
    """What was fitted, and every excluded run with its reason."""
    lines = [f"Fitting {n_used} runs on {analysis.loss_column} (final = {RULE}; diverged = final > "
             f"{DIVERGENCE_RATIO:g} x the run's best); {analysis.definitions}"]
    return lines + [f"WARNING: excluded {run}: {why}" for run, why in excluded]


def _jsonable(value):
    """Fit objects via to_dict, frames as records, everything else as is."""
    if hasattr(value, "to_dict") and not isinstance(value, dict):
        return value.to_dict(orient="records") if hasattr(value, "columns") else value.to_dict()
    return value


def write_fit_json(path: Path, analysis: Analysis, excluded: list[tuple[str, str]], runs_used: list[str]) -> None:
    """fit.json: every fit's summary, the skipped fits and excluded runs with reasons."""
    payload = {"loss_column": analysis.loss_column, "final_loss_rule": RULE,
               "divergence_rule": f"final > {DIVERGENCE_RATIO:g} x the run's best value of the column",
               "runs_used": runs_used,
               "excluded_runs": [{"run": run, "reason": why} for run, why in excluded],
               "fits": {name: _jsonable(fit) for name, fit in analysis.fits.items()},
               "skipped_fits": analysis.skipped, "notes": analysis.notes, "definitions": analysis.definitions,
               "diagnostics": {name: d.to_dict() for name, d in analysis.diagnostics.items()}}
    Path(path).write_text(json.dumps(_finite_or_null(payload), indent=2, default=float, allow_nan=False) + "\n")


def _finite_or_null(value):
    """NaN and infinities become None, so fit.json is strict JSON any reader accepts."""
    if isinstance(value, dict):
        return {key: _finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value
