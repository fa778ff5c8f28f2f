"""How far an Approach 3 fit can be trusted: residuals, parameter uncertainty, runs used, and
which predictions are UNRELIABLE. Printed with every fit and written to fit.json.

A parameter is flagged when its bootstrap interval is wider than WIDE_FACTOR (hi/lo, or for an
exponent more than +-50% of its value), has zero width (every resample gave the same value:
the data cannot move it, so it is pinned, not known), or when the estimate sits at a bound of
the model (E below E_ZERO_FRACTION of the smallest loss: no irreducible term was found).
A run is flagged as an outlier when its log residual is more than OUTLIER_MADS robust standard
deviations and OUTLIER_MIN_LOG from zero. A prediction is UNRELIABLE when its budget lies outside the compute range
of the fitted runs by more than EXTRAPOLATION_FACTOR, when its interval is wider than
WIDE_FACTOR, or when any of E, A, B, alpha, beta is flagged.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .chinchilla import PARAMS, ChinchillaFit

WIDE_FACTOR = 10.0  # interval hi/lo above this: the parameter (or prediction) is not pinned down
EXPONENT_RELATIVE = 0.5  # an exponent's interval beyond +-50% of its estimate: not pinned down
E_ZERO_FRACTION = 1e-3  # E below this fraction of the smallest loss: at the bound E = 0
OUTLIER_MADS = 4.0  # |log residual| beyond this many robust sigmas (1.4826 MAD): outlying run
OUTLIER_MIN_LOG = 0.02  # ... and beyond 2% of the loss: below that a residual is noise whatever its sigma
EXTRAPOLATION_FACTOR = 10.0  # a budget beyond 10x outside the fitted compute range: UNRELIABLE


@dataclass(frozen=True)
class Diagnostics:
    """What the printout and fit.json say about one Approach 3 fit."""

    n_used: int
    n_excluded: int
    rms_log_residual: float
    max_log_residual: float
    worst_run: str
    parameter_flags: dict  # name -> reason ('' when fine)
    outliers: list  # (run, log residual)
    duplicates: int  # runs repeating another run's (N, D)
    compute_range: tuple  # (min C, max C) of the fitted runs
    predictions: list = field(default_factory=list)  # dicts: C, N_opt, D_opt, intervals, verdict

    @property
    def reliable(self) -> bool:
        return not any(self.parameter_flags.values())

    def to_dict(self) -> dict:
        return {"n_used": self.n_used, "n_excluded": self.n_excluded, "rms_log_residual": self.rms_log_residual,
                "max_log_residual": self.max_log_residual, "worst_run": self.worst_run,
                "parameter_flags": {k: v for k, v in self.parameter_flags.items() if v},
                "outliers": [{"run": r, "log_residual": x} for r, x in self.outliers],
                "duplicates": self.duplicates, "compute_range": list(self.compute_range),
                "predictions": self.predictions}


def parameter_flag(name: str, estimate: float, interval: tuple, smallest_loss: float) -> str:
    """Why one parameter cannot be trusted, or ''."""
    if name == "E" and estimate < E_ZERO_FRACTION * smallest_loss:
        return f"E = {estimate:.3g} is at its bound 0: no irreducible loss was found (not identified)"
    lo, hi = interval
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return ""  # no bootstrap: nothing to say about the spread
    if hi - lo <= 1e-12 * max(abs(estimate), 1e-300):
        return f"zero-width interval [{lo:.4g}, {hi:.4g}]: no resample moved it, so it is pinned, not measured"
    if name in ("alpha", "beta", "a", "b"):
        if lo < (1 - EXPONENT_RELATIVE) * estimate or hi > (1 + EXPONENT_RELATIVE) * estimate:
            return f"interval [{lo:.3g}, {hi:.3g}] is wider than +-{EXPONENT_RELATIVE:.0%} of {estimate:.3g}"
        return ""
    if lo <= 0 or hi / lo > WIDE_FACTOR:
        return f"interval [{lo:.3g}, {hi:.3g}] spans more than a factor {WIDE_FACTOR:g}"
    return ""


def _log_residuals(fit: ChinchillaFit, N, D, loss) -> np.ndarray:
    return np.log(fit.predict(N, D)) - np.log(loss)


def _outliers(residuals: np.ndarray, labels: list[str]) -> list[tuple[str, float]]:
    """Runs whose residual is more than OUTLIER_MADS robust sigmas out."""
    sigma = 1.4826 * np.median(np.abs(residuals - np.median(residuals)))
    limit = max(OUTLIER_MADS * sigma, OUTLIER_MIN_LOG)
    return [(label, float(r)) for label, r in zip(labels, residuals) if abs(r) > limit]


def prediction(fit: ChinchillaFit, C: float, compute_range: tuple, parameters_ok: bool) -> dict:
    """N_opt, D_opt at budget C with intervals, and the verdict ('ok' or 'UNRELIABLE: why')."""
    n_lo, n_hi = fit.N_opt_interval(C)
    d_lo, d_hi = fit.D_opt_interval(C)
    reasons = []
    lo, hi = compute_range
    if C > EXTRAPOLATION_FACTOR * hi or C < lo / EXTRAPOLATION_FACTOR:
        reasons.append(f"C outside the fitted range {lo:.2g}-{hi:.2g} by more than {EXTRAPOLATION_FACTOR:g}x")
    if np.isfinite(n_lo) and (n_lo <= 0 or n_hi / n_lo > WIDE_FACTOR):
        reasons.append(f"N_opt interval spans more than a factor {WIDE_FACTOR:g}")
    if not parameters_ok:
        reasons.append("flagged parameters")
    return {"C": float(C), "N_opt": float(fit.N_opt(C)), "N_opt_interval": [n_lo, n_hi],
            "D_opt": float(fit.D_opt(C)), "D_opt_interval": [d_lo, d_hi],
            "verdict": "UNRELIABLE: " + "; ".join(reasons) if reasons else "ok"}


def report_budgets(compute_range: tuple) -> list[float]:
    """Budgets for the prediction table: the fitted range's ends, then 10x, 100x and 10,000x beyond it."""
    lo, hi = compute_range
    return [float(lo), float(hi)] + [float(hi * k) for k in (10.0, 100.0, 1e4)]


def chinchilla_diagnostics(fit: ChinchillaFit, runs: pd.DataFrame, loss_column: str, n_excluded: int) -> Diagnostics:
    """Diagnostics of an Approach 3 fit to ``runs`` (the frame it was fitted on)."""
    N, D, loss, C = (runs[c].to_numpy(float) for c in ("total_params", "tokens", loss_column, "flops"))
    labels = list(runs["folder"].astype(str) + "/" + runs["label"].astype(str)) if "label" in runs else \
        [str(i) for i in range(len(runs))]
    residuals = _log_residuals(fit, N, D, loss)
    worst = int(np.argmax(np.abs(residuals)))
    intervals = fit.intervals
    flags = {name: parameter_flag(name, getattr(fit, name), intervals[name], float(loss.min()))
             for name in PARAMS + ("a", "b")}
    compute_range = (float(C.min()), float(C.max()))
    ok = not any(flags[p] for p in PARAMS)
    return Diagnostics(n_used=len(runs), n_excluded=n_excluded,
                       rms_log_residual=float(np.sqrt(np.mean(residuals**2))),
                       max_log_residual=float(residuals[worst]), worst_run=labels[worst], parameter_flags=flags,
                       outliers=_outliers(residuals, labels),
                       duplicates=int(pd.DataFrame({"N": N, "D": D}).duplicated().sum()),
                       compute_range=compute_range,
                       predictions=[prediction(fit, c, compute_range, ok) for c in report_budgets(compute_range)])


def _interval_text(pair) -> str:
    return "" if not np.all(np.isfinite(pair)) else f"[{pair[0]:.3g}, {pair[1]:.3g}]"


def diagnostics_lines(diag: Diagnostics) -> list[str]:
    """The printed checks of one fit: residuals, runs, flags, and the prediction table with verdicts."""
    lines = [f"  fit checks: {diag.n_used} runs used, {diag.n_excluded} excluded; log residuals rms "
             f"{diag.rms_log_residual:.3g}, max {diag.max_log_residual:+.3g} ({diag.worst_run})"]
    lines += [f"  FLAG {name}: {why}" for name, why in diag.parameter_flags.items() if why]
    lines += [f"  FLAG outlying run {run}: log residual {r:+.3g}" for run, r in diag.outliers]
    if diag.duplicates:
        lines.append(f"  FLAG {diag.duplicates} run(s) repeat another run's (N, D): each counts again in the fit "
                     "and the bootstrap")
    lines.append(f"  {'C (FLOPs)':<11}{'N_opt':>10} {'interval':<22}{'D_opt':>10} {'interval':<22}verdict")
    for p in diag.predictions:
        lines.append(f"  {p['C']:<11.3g}{p['N_opt']:>10.3g} {_interval_text(p['N_opt_interval']):<22}"
                     f"{p['D_opt']:>10.3g} {_interval_text(p['D_opt_interval']):<22}{p['verdict']}")
    return lines
