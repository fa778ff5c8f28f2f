"""load_runs / load_curves on hand-written result folders (no training code involved)."""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest

from experimental_analysis import load_curves, load_runs
from scaling_laws.results_layout import CSV_COLUMNS

SHA_A, SHA_B = "a" * 64, "b" * 64


def write_run(root: Path, folder: str, label: str, n_params: int, losses, status="complete",
              sha=SHA_A, eval_every: int = 2, tokens_per_step: int = 1000, **config) -> Path:
    """Write <label>.csv, config_<label>.json and (unless status is None) <label>.done."""
    study = Path(root) / folder
    study.mkdir(parents=True, exist_ok=True)
    lines = [",".join(CSV_COLUMNS)]
    for step, loss in enumerate(losses, start=1):
        tokens = step * tokens_per_step
        val = "" if step % eval_every else f"{loss + 0.1}"
        row = {"optimizer_step": step, "tokens_processed": tokens, "loss": loss, "val_loss": val,
               "learning_rate": 0.001, "grad_norm": 1.0, "theoretical_flops_chinchilla": 6 * n_params * tokens,
               "tokens_per_second": 1000.0, "elapsed_s": step * 0.1}
        lines.append(",".join(str(row.get(column, "")) for column in CSV_COLUMNS))
    (study / f"{label}.csv").write_text("\n".join(lines) + "\n")
    cfg = {"label": label, "folder_name": folder, "hidden_dim": 64, "learning_rate": 1e-3, **config}
    meta = {"config": cfg, "total_params": n_params, "non_embedding_params": n_params // 2,
            "dataset": {"name": "synthetic", "sha256": sha, "train_tokens": 10**6, "val_tokens": 10**5},
            "versions": {}, "world_size": 1, "device": "cpu"}
    (study / f"config_{label}.json").write_text(json.dumps(meta))
    if status is not None:
        done = {"status": status, "optimizer_steps": len(losses), "tokens_processed": len(losses) * tokens_per_step,
                "final_loss": losses[-1], "final_val_loss": None, "elapsed_s": 1.0}
        (study / f"{label}.done").write_text(json.dumps(done))
    return study


def test_final_losses_tokens_flops_and_status(tmp_path):
    write_run(tmp_path, "study", "small", 1000, [5.0, 4.0, 3.0, 2.0, 1.0, 0.5])
    write_run(tmp_path, "study", "running", 2000, [5.0, 4.0], status=None)
    write_run(tmp_path, "study", "blowup", 3000, [5.0, float("nan"), float("inf")], status="diverged")
    (tmp_path / "study" / "small.log").write_text("ignored")
    runs = load_runs(tmp_path / "study").set_index("label")
    small = runs.loc["small"]
    assert small["final_loss"] == 0.5 and small["best_loss"] == 0.5  # the last step
    assert small["final_val_loss"] == pytest.approx(0.5 + 0.1)  # the last eval (step 6), not a mean
    assert small["tokens"] == 6000 and small["flops"] == 6 * 1000 * 6000
    assert small["total_params"] == 1000 and small["non_embedding_params"] == 500
    assert small["hidden_dim"] == 64 and small["folder"] == "study" and small["dataset_sha256"] == SHA_A
    assert runs.loc["running", "status"] == "incomplete"
    assert runs.loc["blowup", "status"] == "diverged" and not math.isfinite(runs.loc["blowup", "final_loss"])


def test_results_root_merge_dedupes_same_experiment(tmp_path):
    write_run(tmp_path / "root1", "study", "r1", 1000, [3.0, 2.0], status=None)
    write_run(tmp_path / "root2", "study", "r1", 1000, [3.0, 2.0, 1.5, 1.4], status="complete")
    write_run(tmp_path / "root1", "study", "r2", 1000, [3.0, 2.0, 1.0], status=None)
    write_run(tmp_path / "root2", "study", "r2", 1000, [3.0], status=None)
    write_run(tmp_path / "root2", "other", "r1", 1000, [3.0])
    runs = load_runs(tmp_path / "root1", tmp_path / "root2").set_index(["folder", "label"])
    assert len(runs) == 3
    assert runs.loc[("study", "r1"), "status"] == "complete"
    assert runs.loc[("study", "r2"), "steps"] == 3


def test_different_dataset_fingerprints_warn(tmp_path):
    write_run(tmp_path, "study", "x", 1000, [1.0], sha=SHA_A)
    write_run(tmp_path, "study", "y", 1000, [1.0], sha=SHA_B)
    with pytest.warns(UserWarning, match="different datasets"):
        load_runs(tmp_path)


def test_same_fingerprint_does_not_warn(tmp_path):
    write_run(tmp_path, "study", "x", 1000, [1.0])
    write_run(tmp_path, "study", "y", 1000, [1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_runs(tmp_path)


def test_missing_or_empty_dirs_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="not a directory"):
        load_runs(tmp_path / "nope")
    with pytest.raises(ValueError, match="no runs under"):
        load_runs(tmp_path)


def test_load_curves_adds_run_columns(tmp_path):
    write_run(tmp_path, "study", "a", 1000, [3.0, 2.0, 1.0])
    write_run(tmp_path, "study", "b", 2000, [3.0, 2.0])
    curves = load_curves(tmp_path / "study")
    assert len(curves) == 5
    assert set(curves["run"]) == {"study/a", "study/b"}
    b = curves[curves["label"] == "b"]
    assert (b["total_params"] == 2000).all() and b["flops"].iloc[-1] == 6 * 2000 * 2000
    assert curves["val_loss"].isna().sum() == 3  # empty cells on non-eval steps
