"""final_loss.py: the fit target is the value at the last step, and the diverged-run rule."""
from __future__ import annotations

import math

import numpy as np
import pytest

from experimental_analysis import load_runs
from experimental_analysis.final_loss import DIVERGENCE_RATIO, best_loss, divergence_reason, final_loss
from experimental_analysis.run_selection import select_runs
from tests.test_load_results import write_run


def test_val_loss_final_is_the_last_eval_where_a_window_mean_would_reach_back(tmp_path):
    # 112 steps, eval every 50 and at the last step: val_loss at steps 50, 100, 112 (DEMO d16's shape)
    losses = list(np.linspace(5.0, 3.0, 112))
    study = write_run(tmp_path, "study", "d16", 1000, losses, eval_every=50)
    csv = (study / "d16.csv").read_text().splitlines()
    last = csv[-1].split(",")
    last[3] = f"{losses[-1] + 0.1}"  # the run always evaluates at its last step
    csv[-1] = ",".join(last)
    (study / "d16.csv").write_text("\n".join(csv) + "\n")
    run = load_runs(study).iloc[0]
    evals = [losses[49] + 0.1, losses[99] + 0.1, losses[111] + 0.1]
    assert run["final_val_loss"] == pytest.approx(evals[-1])
    old_rule = np.mean(evals)  # the former 'mean of the last 3 logged values'
    assert old_rule - run["final_val_loss"] > 0.1, "the CSV must tell the two rules apart"
    assert run["final_loss"] == pytest.approx(losses[-1])


def test_final_and_best_of_cells():
    assert final_loss(["3.0", "", "2.5", "", ""]) == 2.5
    assert math.isnan(final_loss(["", None]))
    assert best_loss(["3.0", "nan", "2.0", "2.4"]) == 2.0


def test_divergence_rule_threshold():
    assert DIVERGENCE_RATIO == 1.2
    assert divergence_reason(2.39, 2.0, "loss") == ""
    assert "1.2 x its best 2" in divergence_reason(2.41, 2.0, "loss")
    assert divergence_reason(float("inf"), 2.0, "val_loss").startswith("diverged: final val_loss is inf")


def test_finite_blow_up_is_excluded_with_the_reason(tmp_path):
    write_run(tmp_path, "study", "ok", 1000, [5.0, 4.0, 3.0, 2.9])
    write_run(tmp_path, "study", "blew", 2000, [5.0, 3.0, 2.0, 7.5])  # finite, marked complete
    runs = load_runs(tmp_path / "study")
    used, excluded = select_runs(runs, "final_loss")
    assert list(used["label"]) == ["ok"]
    assert excluded == [("study/blew", "diverged: final loss 7.5 > 1.2 x its best 2 (ratio 3.75)")]
