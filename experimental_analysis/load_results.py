"""Read training results (see results_layout.py) into pandas tables: one row per run, or per step.

The final loss of a run (the fit target) and its best loss follow the one rule in final_loss.py.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

import pandas as pd

from scaling_laws.results_layout import CSV_COLUMNS, RunPaths, done_summary, read_json, read_metrics_rows
from scaling_laws.status import RunStatus

from .final_loss import best_loss, final_loss
from .learning_rate import with_parametrization

def _labels(folder: Path) -> list[str]:
    """Run labels in a study folder: from metrics CSVs and config files."""
    from_csv = {p.stem for p in folder.glob("*.csv") if not p.name.startswith(".")}
    from_config = {p.stem[len("config_"):] for p in folder.glob("config_*.json")}
    return sorted(from_csv | from_config)


def study_folders(result_dir) -> list[Path]:
    """The study folders in result_dir: itself if it holds runs, else its subfolders that do."""
    root = Path(result_dir)
    if not root.is_dir():
        raise ValueError(f"load_runs: {root} is not a directory; pass a study folder (results/<folder_name>) "
                         "or a results root containing study folders")
    if _labels(root):
        return [root]
    found = [sub for sub in sorted(root.iterdir()) if sub.is_dir() and _labels(sub)]
    if not found:
        raise ValueError(f"load_runs: no runs under {root}: expected <label>.csv / config_<label>.json files "
                         "in it or in its subfolders")
    return found


def _read_run(folder: Path, label: str) -> Optional[dict]:
    """One run's row, or None (with a warning) when its config file is missing."""
    paths = RunPaths(folder, label)
    if not paths.config_json.exists():
        warnings.warn(f"skipping run {folder.name}/{label}: no {paths.config_json.name}, so its size is unknown")
        return None
    meta = read_json(paths.config_json)
    rows = read_metrics_rows(paths.csv)
    last = rows[-1] if rows else {}
    done = done_summary(paths)
    config = meta.get("config", {})
    return {**config, "folder": config.get("folder_name", folder.name), "label": label, "path": str(folder),
            "total_params": meta.get("total_params"), "non_embedding_params": meta.get("non_embedding_params"),
            "dataset_sha256": meta.get("dataset", {}).get("sha256"),
            "steps": int(last.get("optimizer_step", 0) or 0),
            "tokens": float(last.get("tokens_processed") or "nan"),
            "flops": float(last.get("theoretical_flops_chinchilla") or "nan"),
            "flops_with_attention": float(last.get("flops_with_attention") or "nan"),
            "final_loss": final_loss(r["loss"] for r in rows), "best_loss": best_loss(r["loss"] for r in rows),
            "final_val_loss": final_loss(r["val_loss"] for r in rows),
            "best_val_loss": best_loss(r["val_loss"] for r in rows),
            "status": done["status"] if done else RunStatus.INCOMPLETE.value}  # no .done: running, crashed or cancelled


def _dedupe(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (folder, label): the complete copy if any, else the one with the most steps."""
    preference = runs.assign(_complete=runs["status"] == RunStatus.COMPLETE)
    preference = preference.sort_values(["_complete", "steps"], ascending=False, kind="stable")
    return preference.drop_duplicates(["folder", "label"]).drop(columns="_complete").reset_index(drop=True)


def _warn_mixed_datasets(runs: pd.DataFrame) -> None:
    """Warn when the runs were trained on data with different sha256 fingerprints."""
    counts = runs["dataset_sha256"].dropna().value_counts()
    if len(counts) > 1:
        listed = ", ".join(f"{sha[:12]}... ({n} runs)" for sha, n in counts.items())
        warnings.warn(f"runs were trained on different datasets (sha256 fingerprints: {listed}); "
                      "their losses are not comparable")


def load_runs(*result_dirs) -> pd.DataFrame:
    """One row per run across all result_dirs (study folders or results roots), de-duplicated.

    Columns: the config fields, folder, label, path, total_params, non_embedding_params,
    dataset_sha256, steps, tokens (D), flops (C = 6ND), flops_with_attention (NaN in CSVs older than
    that column), final_loss, best_loss, final_val_loss, best_val_loss (final_loss.py), status, parametrization
    (SP, muP or CompleteP (alpha a): learning_rate.parametrization).
    """
    if not result_dirs:
        raise ValueError("load_runs: pass at least one results directory")
    folders = [f for d in result_dirs for f in study_folders(d)]
    records = [r for f in folders for r in map(lambda label: _read_run(f, label), _labels(f)) if r]
    if not records:
        raise ValueError(f"load_runs: no run with a config file under {[str(d) for d in result_dirs]}")
    runs = with_parametrization(_dedupe(pd.DataFrame(records)))
    _warn_mixed_datasets(runs)
    return runs


def load_curves(*result_dirs) -> pd.DataFrame:
    """Per-step metrics of every run (CSV_COLUMNS as floats) plus folder, label, run, total_params.

    tokens and flops repeat tokens_processed and theoretical_flops_chinchilla under the names
    load_runs uses for their final values (D and C).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # load_runs callers see these warnings already
        runs = load_runs(*result_dirs)
    frames = []
    for run in runs.itertuples(index=False):
        rows = read_metrics_rows(RunPaths(Path(run.path), run.label).csv)
        steps = pd.DataFrame(rows, columns=list(CSV_COLUMNS)).apply(pd.to_numeric, errors="coerce")
        frames.append(steps.assign(folder=run.folder, label=run.label, run=f"{run.folder}/{run.label}",
                                   total_params=run.total_params, non_embedding_params=run.non_embedding_params,
                                   tokens=steps["tokens_processed"],
                                   flops=steps["theoretical_flops_chinchilla"]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
