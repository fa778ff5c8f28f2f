"""The table of fits: each entry says how to run it, how to print it and how to plot it.

A new fit is one ``Fit`` entry in ``FITS``; ``run_all_fits``, ``report_lines`` and
``write_plots`` loop over the table. A fit whose data cannot support it raises ValueError, and
the analysis records the reason instead of stopping the rest.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import pandas as pd

from .analysis import Analysis, compute_frontier, extrapolation_check, identifiability_notes, lowest_loss_per
from .chinchilla import fit_chinchilla
from .diagnostics import chinchilla_diagnostics, diagnostics_lines
from .envelope import fit_envelope
from .isoflop import fit_isoflop
from .kaplan import fit_kaplan
from .learning_rate import best_learning_rates
from .plots import (plot_chinchilla_fit, plot_isoflop, plot_loss_by_architecture, plot_loss_vs_compute,
                    plot_lr_sweep, plot_training_curves)
from .report import (chinchilla_lines, envelope_lines, extrapolation_lines, header_lines, isoflop_lines, kaplan_lines,
                     learning_rate_lines)


@dataclass(frozen=True)
class FitInputs:
    """What every fit may read."""

    runs: pd.DataFrame  # the selected runs (one tuned LR per N, D)
    curves: pd.DataFrame  # their training curves
    lr_runs: pd.DataFrame  # all finished runs, sweeps included (for the best-LR table)
    loss_column: str  # final_val_loss or final_loss
    n_bootstrap: int  # Approach 3 bootstrap resamples
    seed: int  # bootstrap seed
    n_excluded: int = 0  # runs left out of the fits (reported with the diagnostics)
    definitions: str = "N = total parameters, C = 6ND"  # what total_params and flops hold (definitions.py)
    study: str = ""  # what was analysed, for figure titles
    axis_labels: tuple = ("parameters N (total, count)", "compute C (FLOPs, 6ND)")  # definitions.axis_labels

    def column(self, name: str):
        return self.runs[name].to_numpy(float)


@dataclass(frozen=True)
class Plot:
    """A figure drawn from one fit (or from the data alone)."""

    filename: str
    draw: Callable[[pd.DataFrame, Analysis, Path], Path]  # (data, analysis, path) -> path
    data: Callable[[FitInputs], pd.DataFrame]  # which frame it draws
    why_not: str  # printed when the fit behind it did not run


@dataclass(frozen=True)
class Fit:
    """One fit: run it, print it, maybe plot it."""

    name: str  # key in Analysis.fits and fit.json
    run: Callable[[FitInputs], Any]  # raises ValueError when the data cannot support it
    report: Callable[[Any], list[str]]  # printed lines
    plot: Optional[Plot] = None


def _chinchilla(inputs: FitInputs):
    N, D, L = (inputs.column(c) for c in ("total_params", "tokens", inputs.loss_column))
    return fit_chinchilla(N, D, L, n_bootstrap=inputs.n_bootstrap, seed=inputs.seed)


def _isoflop(inputs: FitInputs):
    return fit_isoflop(*(inputs.column(c) for c in ("total_params", "tokens", inputs.loss_column, "flops")))


def _kaplan_over(column: str, variable: str) -> Callable[[FitInputs], Any]:
    """Kaplan's L(N) or L(D): the lowest loss at each distinct value of ``column``."""
    def run(inputs: FitInputs):
        best = lowest_loss_per(inputs.runs, column, inputs.loss_column)
        return fit_kaplan(best[column], best[inputs.loss_column], variable)
    return run


def _kaplan_compute(inputs: FitInputs):
    frontier = compute_frontier(inputs.runs, inputs.loss_column)
    return fit_kaplan(frontier["flops"], frontier[inputs.loss_column], "C")


def _learning_rates(inputs: FitInputs) -> pd.DataFrame:
    table = best_learning_rates(inputs.lr_runs, inputs.loss_column)
    if table.empty:
        raise ValueError("no learning-rate sweep: no width was trained at 2+ learning rates")
    return table


def _runs(inputs: FitInputs) -> pd.DataFrame:
    return inputs.runs


def _runs_of_several_architectures(inputs: FitInputs) -> pd.DataFrame:
    """The runs, when they hold 2+ architectures (a config without the field is a transformer's); else none."""
    runs = inputs.runs
    families = runs["architecture"].fillna("transformer") if "architecture" in runs else pd.Series("transformer",
                                                                                                      index=runs.index)
    return runs.assign(architecture=families) if families.nunique() > 1 else runs.iloc[0:0]


FITS: tuple[Fit, ...] = (
    Fit("chinchilla", _chinchilla, chinchilla_lines,
        Plot("chinchilla_fit.png", plot_chinchilla_fit, _runs, "no Approach 3 fit")),
    Fit("extrapolation", lambda inputs: extrapolation_check(inputs.runs, inputs.loss_column), extrapolation_lines),
    Fit("isoflop", _isoflop, isoflop_lines,
        Plot("isoflop.png", plot_isoflop, _runs, "no repeated compute budgets to fit")),
    Fit("envelope", lambda inputs: fit_envelope(inputs.curves), envelope_lines),
    Fit("kaplan_N", _kaplan_over("total_params", "N"), kaplan_lines),
    Fit("kaplan_D", _kaplan_over("tokens", "D"), kaplan_lines),
    Fit("kaplan_C", _kaplan_compute, kaplan_lines),
    Fit("learning_rates", _learning_rates, learning_rate_lines,
        Plot("lr_sweep.png", plot_lr_sweep, lambda inputs: inputs.lr_runs, "no learning-rate sweep")),
)

# Figures of the data itself, drawn whenever there is data (with a fit's overlay when it ran).
DATA_PLOTS: tuple[Plot, ...] = (
    Plot("loss_vs_compute.png", plot_loss_vs_compute, _runs, "no runs"),
    Plot("training_curves.png", plot_training_curves, lambda inputs: inputs.curves, "no training curves"),
    Plot("loss_by_architecture.png", plot_loss_by_architecture, _runs_of_several_architectures,
         "one architecture only"),
)


def run_all_fits(inputs: FitInputs) -> Analysis:
    """Every fit of FITS the data allow, in table order; caveats on Approach 3 as notes."""
    analysis = Analysis(inputs.loss_column, definitions=inputs.definitions, study=inputs.study,
                        n_label=inputs.axis_labels[0], c_label=inputs.axis_labels[1])
    for fit in FITS:
        analysis.attempt(fit.name, lambda fit=fit: fit.run(inputs))
    if "chinchilla" in analysis.fits:
        analysis.notes += identifiability_notes(inputs.column("total_params"), inputs.column("tokens"))
        analysis.diagnostics["chinchilla"] = chinchilla_diagnostics(analysis.fits["chinchilla"], inputs.runs,
                                                                    inputs.loss_column, inputs.n_excluded)
    return analysis


def report_lines(analysis: Analysis, excluded: list[tuple[str, str]], n_used: int) -> list[str]:
    """The whole printed report: header and exclusions, Approach 3 with its notes, the other fits, the skips."""
    lines = header_lines(analysis, excluded, n_used)
    for fit in FITS:
        if fit.name in analysis.fits:
            lines += fit.report(analysis.fits[fit.name])
        if fit.name in analysis.diagnostics:
            lines += diagnostics_lines(analysis.diagnostics[fit.name])
        if fit.name == "chinchilla":
            lines += [f"NOTE: {note}" for note in analysis.notes]
    return lines + [f"SKIPPED {name}: {why}" for name, why in analysis.skipped.items()]


def write_plots(out: Path, inputs: FitInputs, analysis: Analysis) -> tuple[list[Path], list[str]]:
    """(written PNGs, notes on plots skipped for lack of data)."""
    written, notes = [], []
    for plot in DATA_PLOTS:
        data = plot.data(inputs)
        if len(data):
            written.append(plot.draw(data, analysis, out / plot.filename))
        else:
            notes.append(f"skipped plot {plot.filename}: {plot.why_not}")
    for fit in FITS:
        if fit.plot is None:
            continue
        if fit.name in analysis.fits:
            written.append(fit.plot.draw(fit.plot.data(inputs), analysis, out / fit.plot.filename))
        else:
            notes.append(f"skipped plot {fit.plot.filename}: {fit.plot.why_not}")
    return written, notes
