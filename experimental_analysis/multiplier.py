"""Compute-equivalent multipliers: how much compute an algorithmic change is worth, read off two scaling curves.

For two families of runs in one results folder (chosen by label pattern or by a config field's value), each
family's compute frontier is its best learning rate per model size (the lowest final loss, averaged over seeds); a
Kaplan-form law L(C) = E + (C_c / C)^alpha (kaplan.fit_kaplan) is fitted to each frontier, and the multiplier at
loss L is

    m(L) = C_base(L) / C_new(L),   C(L) = C_c (L - E)^(-1/alpha),

so m = 3 means the new family reaches L with a third of the base family's compute. Intervals come from a
residual bootstrap: the log residuals of each family's fit are resampled onto its fitted frontier and both laws
refitted (a frontier holds a handful of sizes, too few to resample runs). A loss outside either family's
measured loss range is flagged as extrapolated: the multiplier there rests on the fitted forms alone. A family
whose fit or frontier cannot be trusted (multiplier_checks.py: a best learning rate at the grid's edge, E at the
smallest loss, alpha at a bound) makes the whole result UNRELIABLE; caveats (E = 0, parameters the bootstrap
leaves wide) are printed beside it. Both go to the printout, fit.json and the figure.

CLI: ``python -m experimental_analysis.multiplier results/STUDY --compare 't2017_*' 'modern_*' --at-loss 2.0``
writes multiplier.png and the result under "compute_multiplier" in fit.json (in --out).
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from scipy.optimize import least_squares

from .kaplan import ALPHA_BOUNDS, LOG_E_FLOOR, KaplanFit, _jacobian, _residuals, fit_kaplan
from .multiplier_checks import LR_COLUMN, fit_caveats, fit_flags, interval, lr_edge_flags

CONFIDENCE = 0.95
GRID_POINTS = 25  # losses at which the multiplier curve is reported across the common range
SIZE_COLUMN = "total_params"  # one frontier point per model size
MIN_SIZES = 4  # a 3-parameter law needs a fourth point to be tested by anything (kaplan.fit_kaplan's minimum)
COMPUTE_COLUMN = "flops"  # C = 6 N D at the run's last step


@dataclass(frozen=True)
class Frontier:
    """One family's compute frontier: the best run per size."""

    name: str
    labels: list[str]
    compute: np.ndarray
    loss: np.ndarray
    lr_edges: tuple = ()  # frontier runs whose learning rate is the edge of their size's grid (why, one line each)
    runs_per_point: tuple = ()  # seeds averaged into each point (1 each without a learning_rate column)

    @property
    def loss_range(self) -> tuple[float, float]:
        return float(self.loss.min()), float(self.loss.max())


@dataclass(frozen=True)
class MultiplierAt:
    """The multiplier at one loss, with its bootstrap interval and whether it is extrapolated."""

    loss: float
    multiplier: float
    low: float
    high: float
    extrapolated: bool  # the loss lies outside either family's measured loss range


def select_family(runs: pd.DataFrame, pattern: str, field: Optional[str] = None) -> pd.DataFrame:
    """Runs whose label matches the glob ``pattern`` or, with ``field``, whose config ``field`` equals it."""
    if field is None:
        return runs[runs["label"].map(lambda label: fnmatch.fnmatchcase(str(label), pattern))]
    if field not in runs.columns:
        raise ValueError(f"--field {field!r} is not a column of the runs; choose a config field such as optimizer")
    return runs[runs[field].astype(str) == pattern]


def seed_means(usable: pd.DataFrame, loss_column: str) -> pd.DataFrame:
    """One row per (size, learning rate): the loss averaged over its seeds (the best of several seeds would be
    biased low), the first run's label and how many runs it averages. Without a learning_rate column, the runs."""
    if LR_COLUMN not in usable.columns:
        return usable.assign(runs=1)
    grouped = usable.groupby([SIZE_COLUMN, LR_COLUMN], as_index=False)
    return grouped.agg(**{loss_column: (loss_column, "mean"), COMPUTE_COLUMN: (COMPUTE_COLUMN, "mean"),
                          "label": ("label", "min"), "runs": ("label", "size")})


def frontier(family: pd.DataFrame, name: str, loss_column: str) -> Frontier:
    """The best learning rate of each size, its seeds averaged (finite losses, complete runs when the table says)."""
    usable = family[np.isfinite(family[loss_column].astype(float)) & (family[COMPUTE_COLUMN] > 0)]
    if "status" in usable.columns:
        usable = usable[usable["status"] == "complete"]
    if usable.empty:
        raise ValueError(f"family {name!r} has no complete run with a finite {loss_column}")
    means = seed_means(usable, loss_column).reset_index(drop=True)
    best = means.loc[means.groupby(SIZE_COLUMN)[loss_column].idxmin()].sort_values(COMPUTE_COLUMN)
    if len(best) < MIN_SIZES:
        raise ValueError(f"family {name!r} has complete runs at {len(best)} model size(s); its L(C) fit has 3 "
                         f"parameters and needs at least {MIN_SIZES} sizes: add sizes to the study")
    return Frontier(name, list(best["label"]), best[COMPUTE_COLUMN].to_numpy(float),
                    best[loss_column].to_numpy(float), tuple(lr_edge_flags(best, means, SIZE_COLUMN)),
                    tuple(int(n) for n in best["runs"]))


def compute_for_loss(fit: KaplanFit, loss) -> np.ndarray:
    """C(L) = C_c (L - E)^(-1/alpha); NaN where L <= E (the law never reaches it)."""
    loss = np.asarray(loss, float)
    excess = np.where(loss > fit.E, loss - fit.E, np.nan)
    return fit.x_c * excess ** (-1.0 / fit.alpha)


def multiplier(base: KaplanFit, new: KaplanFit, loss) -> np.ndarray:
    """C_base(L) / C_new(L)."""
    return compute_for_loss(base, loss) / compute_for_loss(new, loss)


def refit(compute: np.ndarray, loss: np.ndarray, start: KaplanFit) -> KaplanFit:
    """fit_kaplan's least squares from one start, the point estimate: a resample lies close to it, so the
    multi-start search is not needed (and would make a bootstrap of 1000 minutes long)."""
    log_c, log_loss = np.log(compute), np.log(loss)
    theta = np.array([max(np.log(start.E), LOG_E_FLOOR + 1), np.log(start.x_c), start.alpha])
    upper_log_e = log_loss.min() - 1e-9
    theta[0] = min(theta[0], upper_log_e - 1e-6)
    bounds = ([LOG_E_FLOOR, -np.inf, ALPHA_BOUNDS[0]], [upper_log_e, np.inf, ALPHA_BOUNDS[1]])
    best = least_squares(_residuals, theta, jac=_jacobian, bounds=bounds,
                         args=(log_c, log_loss), method="trf", x_scale="jac", max_nfev=2000)
    log_e, log_xc, alpha = best.x
    return KaplanFit(E=float(np.exp(log_e)), x_c=float(np.exp(log_xc)), alpha=float(alpha), variable="C",
                     rms_log_residual=float(np.sqrt(np.mean(best.fun ** 2))), n_points=len(log_c))


def bootstrap_fits(front: Frontier, fit: KaplanFit, n_bootstrap: int, rng: np.random.Generator) -> list[KaplanFit]:
    """Refits of the frontier with its log residuals resampled onto the fitted values."""
    fitted = np.log(fit.predict(front.compute))
    residuals = np.log(front.loss) - fitted
    return [refit(front.compute, np.exp(fitted + rng.choice(residuals, size=len(residuals), replace=True)), fit)
            for _ in range(n_bootstrap)]


def loss_grid(base: Frontier, new: Frontier) -> tuple[np.ndarray, bool]:
    """Losses across the range both families measured (geometric grid), and whether the ranges overlap at all;
    without overlap, the union of the ranges (every point then extrapolated for one family)."""
    low = max(base.loss_range[0], new.loss_range[0])
    high = min(base.loss_range[1], new.loss_range[1])
    overlap = low < high
    if not overlap:
        low, high = min(base.loss_range[0], new.loss_range[0]), max(base.loss_range[1], new.loss_range[1])
    return np.geomspace(low, high, GRID_POINTS), overlap


def _outside(front: Frontier, loss: float) -> bool:
    low, high = front.loss_range
    return not (low <= loss <= high)


@dataclass
class Comparison:
    """Everything the printout, fit.json and the figure say."""

    base: Frontier
    new: Frontier
    base_fit: KaplanFit
    new_fit: KaplanFit
    at_losses: list[MultiplierAt]
    grid: list[MultiplierAt]
    ranges_overlap: bool
    n_bootstrap_used: int
    base_flags: dict  # name -> why the base family's fit is not to be trusted (multiplier_checks.fit_flags)
    new_flags: dict
    base_caveats: dict  # name -> what to keep in mind about the base family's fit (multiplier_checks.fit_caveats)
    new_caveats: dict

    def caveats(self) -> list[str]:
        return [f"{front.name} fit, {name}: {text}" for front, caveats in
                ((self.base, self.base_caveats), (self.new, self.new_caveats)) for name, text in caveats.items()]

    def warnings(self) -> list[str]:
        """Every reason the multiplier is UNRELIABLE, prefixed by its family; empty when none."""
        return [text for front, flags in ((self.base, self.base_flags), (self.new, self.new_flags))
                for text in [f"{front.name} fit, {name}: {reason}" for name, reason in flags.items()]
                + [f"{front.name} frontier, {edge}" for edge in front.lr_edges]]

    def to_dict(self) -> dict:
        def family(front: Frontier, fit: KaplanFit, flags: dict, caveats: dict) -> dict:
            return {"name": front.name, "frontier_labels": front.labels, "compute": front.compute.tolist(),
                    "loss": front.loss.tolist(), "measured_loss_range": list(front.loss_range), "fit": fit.to_dict(),
                    "runs_per_point": list(front.runs_per_point), "fit_flags": flags,
                    "fit_caveats": caveats, "lr_edge_runs": list(front.lr_edges)}
        return {"definition": "multiplier = C_base(L) / C_new(L) on each family's fitted compute frontier "
                              "L(C) = E + (C_c/C)^alpha; > 1: the new family needs less compute",
                "confidence": CONFIDENCE, "interval": "residual bootstrap of both frontier fits",
                "n_bootstrap_used": self.n_bootstrap_used, "ranges_overlap": self.ranges_overlap,
                "reliable": not self.warnings(), "unreliable_because": self.warnings(), "caveats": self.caveats(),
                "base": family(self.base, self.base_fit, self.base_flags, self.base_caveats),
                "new": family(self.new, self.new_fit, self.new_flags, self.new_caveats),
                "at_losses": [_jsonable(asdict(point)) for point in self.at_losses],
                "across_common_range": [_jsonable(asdict(point)) for point in self.grid]}


def _jsonable(point: dict) -> dict:
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in point.items()}


def _points(losses: np.ndarray, estimate: np.ndarray, samples: np.ndarray, base: Frontier,
            new: Frontier) -> list[MultiplierAt]:
    points = []
    for i, loss in enumerate(losses):
        low, high = interval(samples[:, i] if samples.size else [], CONFIDENCE)
        points.append(MultiplierAt(float(loss), float(estimate[i]), low, high,
                                   _outside(base, loss) or _outside(new, loss)))
    return points


def compare(base: Frontier, new: Frontier, at_losses: Sequence[float] = (), n_bootstrap: int = 1000,
            seed: int = 0) -> Comparison:
    """Fit both frontiers and the multiplier at ``at_losses`` (default: the middle of the common range) and
    across the common range, with bootstrap intervals."""
    base_fit, new_fit = fit_kaplan(base.compute, base.loss, "C"), fit_kaplan(new.compute, new.loss, "C")
    grid, overlap = loss_grid(base, new)
    chosen = np.asarray(at_losses if len(at_losses) else [float(np.sqrt(grid[0] * grid[-1]))], float)
    losses = np.concatenate([chosen, grid])
    rng = np.random.default_rng(seed)
    base_boots = bootstrap_fits(base, base_fit, n_bootstrap, rng)
    new_boots = bootstrap_fits(new, new_fit, n_bootstrap, rng)
    pairs = list(zip(base_boots, new_boots))
    samples = np.array([multiplier(b, n, losses) for b, n in pairs]) if pairs else np.empty((0, len(losses)))
    points = _points(losses, multiplier(base_fit, new_fit, losses), samples, base, new)
    families = ((base, base_fit, base_boots), (new, new_fit, new_boots))
    flags = [fit_flags(front.loss_range[0], fit) for front, fit, _ in families]
    caveats = [fit_caveats(front.loss_range[0], fit, boots, CONFIDENCE) for front, fit, boots in families]
    return Comparison(base, new, base_fit, new_fit, points[:len(chosen)], points[len(chosen):], overlap, len(pairs),
                      *flags, *caveats)


def report_lines(result: Comparison) -> list[str]:
    """The printout: both fits, then the multiplier at each chosen loss with its interval and flags."""
    lines = [f"compute multiplier C_{result.base.name}(L) / C_{result.new.name}(L) "
             f"({CONFIDENCE:.0%} residual-bootstrap interval, {result.n_bootstrap_used} resamples)"]
    for front, fit in ((result.base, result.base_fit), (result.new, result.new_fit)):
        lines.append(f"  {front.name}: {len(front.labels)} sizes, loss {front.loss_range[0]:.4f}-"
                     f"{front.loss_range[1]:.4f}; L(C) = {fit.E:.4f} + ({fit.x_c:.3g}/C)^{fit.alpha:.4f}")
    if not result.ranges_overlap:
        lines.append("  WARNING: the families' measured loss ranges do not overlap: every multiplier is extrapolated")
    warnings = result.warnings()
    if warnings:
        lines.append("  UNRELIABLE: the multiplier below rests on fits or frontiers that cannot be trusted:")
        lines += [f"    - {warning}" for warning in warnings]
    if result.caveats():
        lines.append("  caveats (their spread is in the interval; E = 0 matters outside the measured range):")
        lines += [f"    - {caveat}" for caveat in result.caveats()]
    for point in result.at_losses:
        flag = "  EXTRAPOLATED (outside a family's measured losses)" if point.extrapolated else ""
        flag += "  UNRELIABLE (see above)" if warnings else ""
        lines.append(f"  at loss {point.loss:.4f}: multiplier {point.multiplier:.3g} "
                     f"[{point.low:.3g}, {point.high:.3g}]{flag}")
    return lines


def write_fit_json(path: Path, result: Comparison) -> None:
    """Put the comparison under "compute_multiplier" in fit.json, keeping what the scaling analysis wrote there."""
    existing = json.loads(path.read_text()) if path.exists() else {}
    existing["compute_multiplier"] = result.to_dict()
    path.write_text(json.dumps(existing, indent=2, allow_nan=False))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Compute-equivalent multiplier between two families of runs.")
    parser.add_argument("result_dirs", nargs="+", type=Path, help="study folders or results roots")
    parser.add_argument("--compare", nargs=2, metavar=("BASE", "NEW"), required=True,
                        help="label globs of the two families (e.g. 't2017_*' 'modern_*'), or values of --field")
    parser.add_argument("--field", default=None, help="choose families by this config field (e.g. optimizer)")
    parser.add_argument("--at-loss", type=float, nargs="*", default=[], help="losses to report the multiplier at")
    parser.add_argument("--loss", choices=("auto", "final_val_loss", "final_loss"), default="auto")
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <first dir>/analysis)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    from .load_results import load_runs
    from .run_selection import choose_loss_column

    args = parse_args(argv)
    base_name, new_name = args.compare
    try:  # a missing folder, no runs, an empty family: one line, exit 2
        runs = load_runs(*args.result_dirs)
        loss_column = choose_loss_column(runs) if args.loss == "auto" else args.loss
        fronts = [frontier(select_family(runs, name, args.field), name, loss_column) for name in (base_name, new_name)]
        result = compare(*fronts, at_losses=args.at_loss, n_bootstrap=args.n_bootstrap, seed=args.seed)
    except ValueError as error:
        print(f"multiplier: {error}", file=sys.stderr)
        return 2
    out = args.out or args.result_dirs[0] / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    print("\n".join(report_lines(result)))
    write_fit_json(out / "fit.json", result)
    from .multiplier_plot import plot
    print(f"wrote {plot(result, out / 'multiplier.png')} and {out / 'fit.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
