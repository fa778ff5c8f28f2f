"""The analysis command line: load runs, run every fit of the table (fits.py), print, write fit.json and plots.

    python -m experimental_analysis.fit_scaling_analysis results/STUDY [more dirs] [--out DIR] [--n-bootstrap K]

Loads every run (load_results.py), excludes unfinished, diverged and untuned runs with a
printed reason, runs each fit the data allow (a fit that cannot run prints why), prints a
table, and writes fit.json plus PNG plots into --out (default: <first dir>/analysis).
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

from scaling_laws.status import RunStatus

from .fits import FitInputs, report_lines, run_all_fits, write_plots
from .load_results import load_curves, load_runs
from .report import write_fit_json
from .run_selection import choose_loss_column, select_runs


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description="Fit scaling laws to training results.")
    parser.add_argument("result_dirs", nargs="+", type=Path, help="study folders or results roots")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <first dir>/analysis)")
    parser.add_argument("--n-bootstrap", type=int, default=1000, help="bootstrap resamples for Approach 3 intervals")
    parser.add_argument("--loss", choices=("auto", "final_val_loss", "final_loss"), default="auto",
                        help="which final loss to fit (auto: validation loss when every complete run has one)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    return parser.parse_args(argv)


def _load(result_dirs):
    """(runs, curves), with load warnings printed as WARNING lines on stdout."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs, curves = load_runs(*result_dirs), load_curves(*result_dirs)
    for warning in caught:
        print(f"WARNING: {warning.message}")
    return runs, curves


def main(argv=None) -> int:
    """Run the analysis; returns the exit status (0 unless no results could be read)."""
    args = parse_args(argv)
    try:
        runs, curves = _load(args.result_dirs)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    loss_column = choose_loss_column(runs) if args.loss == "auto" else args.loss
    used, excluded = select_runs(runs, loss_column)
    lr_runs = runs[(runs["status"] == RunStatus.COMPLETE) & np.isfinite(runs[loss_column].astype(float))]
    used_curves = curves[curves["run"].isin(used["folder"] + "/" + used["label"])]
    inputs = FitInputs(used, used_curves, lr_runs, loss_column, args.n_bootstrap, args.seed)
    analysis = run_all_fits(inputs)
    print("\n".join(report_lines(analysis, excluded, len(used))))
    out = args.out or args.result_dirs[0] / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    write_fit_json(out / "fit.json", analysis, excluded, list(used["folder"] + "/" + used["label"]))
    written, notes = write_plots(out, inputs, analysis)
    print("\n".join(notes + [f"wrote {out / 'fit.json'}"] + [f"wrote {p}" for p in written]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
