"""The analysis command line: load runs, run every fit of the table (fits.py), print, write fit.json and plots.

    python -m experimental_analysis.fit_scaling_analysis results/STUDY [more dirs or runs.csv] [--out DIR]
        [--n-bootstrap K] [--loss ...] [--params total|non_embedding] [--flops chinchilla|with_attention]
        [--columns N=params,D=tokens,loss=loss]

Loads every run (load_results.py; a .csv or .parquet argument is a table of runs, table.py),
excludes unfinished, diverged and untuned runs with a printed reason, runs each fit the data
allow (a fit that cannot run prints why), prints a table with each fit's diagnostics, and
writes fit.json plus PNG plots into --out (default: <first dir>/analysis, for a table
<table folder>/<table name>_analysis).
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from scaling_laws.status import RunStatus

from .definitions import (DEFAULT_FLOPS, DEFAULT_PARAMS, FLOPS, PARAMS, axis_labels, describe, missing_notes,
                          with_definitions)
from .fits import FitInputs, report_lines, run_all_fits, write_plots
from .load_results import load_curves, load_runs
from .report import write_fit_json
from .run_selection import choose_loss_column, select_runs
from .table import is_table, load_table, parse_columns


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description="Fit scaling laws to training results.")
    parser.add_argument("result_dirs", nargs="+", type=Path, help="study folders or results roots")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <first dir>/analysis)")
    parser.add_argument("--n-bootstrap", type=int, default=1000, help="bootstrap resamples for Approach 3 intervals")
    parser.add_argument("--loss", choices=("auto", "final_val_loss", "final_loss"), default="auto",
                        help="which final loss to fit (auto: validation loss when every complete run has one)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--params", choices=tuple(PARAMS), default=DEFAULT_PARAMS,
                        help="N in every fit: total parameters (Chinchilla, default) or non-embedding (Kaplan)")
    parser.add_argument("--flops", choices=tuple(FLOPS), default=DEFAULT_FLOPS,
                        help="C in every fit: 6ND (default, as the published fits) or 6ND + attention FLOPs")
    parser.add_argument("--columns", default="", help="column names of a table of runs, ROLE=NAME,...: roles N, D, "
                        "loss (required), C, N_non_embedding, learning_rate, label")
    return parser.parse_args(argv)


def _load(paths, columns: dict):
    """(runs, curves) across the arguments, with load warnings printed as WARNING lines on stdout."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        folders = [p for p in paths if not is_table(p)]
        tables = [load_table(p, columns) for p in paths if is_table(p)]
        runs = [load_runs(*folders)] if folders else []
        curves = load_curves(*folders) if folders else pd.DataFrame()
    for warning in caught:
        print(f"WARNING: {warning.message}")
    return pd.concat(runs + tables, ignore_index=True), curves


def _default_out(first: Path) -> Path:
    return first.parent / f"{first.stem}_analysis" if is_table(first) else first / "analysis"


def main(argv=None) -> int:
    """Run the analysis; returns the exit status (0 unless no results could be read)."""
    args = parse_args(argv)
    try:
        runs, curves = _load(args.result_dirs, parse_columns(args.columns))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    runs = with_definitions(runs, args.params, args.flops)
    curves = with_definitions(curves, args.params, args.flops) if len(curves) else curves
    for note in missing_notes(runs, args.params, args.flops):
        print(f"WARNING: {note}")
    loss_column = choose_loss_column(runs) if args.loss == "auto" else args.loss
    used, excluded = select_runs(runs, loss_column)
    lr_runs = runs[(runs["status"] == RunStatus.COMPLETE) & np.isfinite(runs[loss_column].astype(float))]
    used_curves = curves[curves["run"].isin(used["folder"] + "/" + used["label"])] if len(curves) else curves
    inputs = FitInputs(used, used_curves, lr_runs, loss_column, args.n_bootstrap, args.seed,
                       n_excluded=len(excluded), definitions=describe(args.params, args.flops),
                       study=", ".join(p.stem if is_table(p) else p.resolve().name for p in args.result_dirs),
                       axis_labels=axis_labels(args.params, args.flops))
    analysis = run_all_fits(inputs)
    print("\n".join(report_lines(analysis, excluded, len(used))))
    out = args.out or _default_out(args.result_dirs[0])
    out.mkdir(parents=True, exist_ok=True)
    write_fit_json(out / "fit.json", analysis, excluded, list(used["folder"] + "/" + used["label"]))
    written, notes = write_plots(out, inputs, analysis)
    print("\n".join(notes + [f"wrote {out / 'fit.json'}"] + [f"wrote {p}" for p in written]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
