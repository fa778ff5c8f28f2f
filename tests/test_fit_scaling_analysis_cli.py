"""The analysis CLI end to end on synthetic results folders."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from experimental_analysis.fit_scaling_analysis import main
from test_load_results import write_run

TRUE = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def curve(N: float, tokens_per_step: int, steps: int, lr_penalty: float = 0.0) -> list[float]:
    """Training losses following the Chinchilla law as tokens accumulate."""
    D = tokens_per_step * np.arange(1, steps + 1)
    return list(TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"] + lr_penalty)


def write_study(root, sizes, ratios=(20,), steps=20):
    """Complete runs for each size x tokens-per-parameter ratio; returns the study folder."""
    for N in sizes:
        for ratio in ratios:
            write_run(root, "study", f"n{N}_r{ratio}", N, curve(N, N * ratio // steps, steps),
                      tokens_per_step=N * ratio // steps, eval_every=1, hidden_dim=N // 1000)
    return root / "study"


def test_cli_full_study_writes_fit_json_and_plots(tmp_path, capsys):
    study = write_study(tmp_path, [10**6, 2 * 10**6, 4 * 10**6, 8 * 10**6, 16 * 10**6], ratios=(5, 20, 80))
    write_run(tmp_path, "study", "blowup", 10**6, [3.0, float("nan")], status="diverged")
    write_run(tmp_path, "study", "running", 10**6, [3.0, 2.9], status=None)
    for lr, penalty in ((3e-4, 0.2), (3e-3, 0.1)):  # worse learning rates for the 1e6 x 20 run
        write_run(tmp_path, "study", f"lr{lr}", 10**6, curve(10**6, 10**6, 20, penalty), tokens_per_step=10**6,
                  eval_every=1, hidden_dim=1000, learning_rate=lr)
    assert main([str(study), "--n-bootstrap", "20"]) == 0
    printed = capsys.readouterr().out
    assert "WARNING: excluded study/blowup: status diverged" in printed
    assert "WARNING: excluded study/running: status incomplete" in printed
    assert "not the best learning rate" in printed
    assert "Approach 3 (15 runs)" in printed and "Extrapolation" in printed
    fit = json.loads((study / "analysis" / "fit.json").read_text())
    assert abs(fit["fits"]["chinchilla"]["params"]["alpha"] - TRUE["alpha"]) < 0.05
    assert {"chinchilla", "extrapolation", "kaplan_N", "learning_rates"} <= set(fit["fits"])
    for name in ("loss_vs_compute", "chinchilla_fit", "lr_sweep", "training_curves"):
        assert (study / "analysis" / f"{name}.png").stat().st_size > 1000


def test_cli_small_demo_still_fits_and_explains_skips(tmp_path, capsys):
    study = write_study(tmp_path, [10**6, 2 * 10**6, 4 * 10**6, 8 * 10**6, 16 * 10**6])
    out = tmp_path / "out"
    assert main([str(study), "--out", str(out), "--n-bootstrap", "10"]) == 0
    printed = capsys.readouterr().out
    assert "Approach 3 (5 runs)" in printed and "Kaplan L(N)" in printed
    assert "SKIPPED isoflop" in printed and "skipped plot isoflop.png" in printed
    assert (out / "fit.json").exists() and (out / "loss_vs_compute.png").exists()
    assert (out / "training_curves.png").exists()

    def reject(constant):
        raise AssertionError(f"fit.json holds {constant}, which strict JSON readers refuse")
    json.loads((out / "fit.json").read_text(), parse_constant=reject)
    assert main([str(study), "--out", str(out), "--n-bootstrap", "0"]) == 0  # no intervals: null, not NaN
    json.loads((out / "fit.json").read_text(), parse_constant=reject)


def test_cli_without_results_exits_nonzero(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "no runs under" in capsys.readouterr().err


def test_cli_draws_lstms_and_transformers_on_one_figure_only_when_both_are_there(tmp_path, capsys):
    study = write_study(tmp_path, [10**6, 2 * 10**6, 4 * 10**6])  # transformers (no architecture field: older configs)
    out = tmp_path / "out"
    assert main([str(study), "--out", str(out), "--n-bootstrap", "5"]) == 0
    assert "skipped plot loss_by_architecture.png: one architecture only" in capsys.readouterr().out
    for N in (10**6, 2 * 10**6, 4 * 10**6):
        write_run(tmp_path, "study", f"lstm{N}", N, [loss + 0.3 for loss in curve(N, N, 20)], eval_every=1,
                  tokens_per_step=N, hidden_dim=N // 1000, architecture="lstm")
    assert main([str(study), "--out", str(out), "--n-bootstrap", "5"]) == 0
    assert (out / "loss_by_architecture.png").stat().st_size > 1000


def test_cli_fits_a_table_of_runs_with_named_columns(tmp_path, capsys):
    sizes, ratios = [10**6, 3 * 10**6, 10**7, 3 * 10**7, 10**8], (5, 20, 80)
    rows = [{"params": N, "toks": N * r, "final": curve(N, N * r, 1)[0], "name": f"n{N}_r{r}"}
            for N in sizes for r in ratios]
    table = tmp_path / "paper.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    assert main([str(table), "--n-bootstrap", "20"]) == 2  # default names: N, D, loss
    assert "paper.csv: no column 'N', 'D', 'loss' for N, D, loss (it has: params, toks, final, name)" in \
        capsys.readouterr().err
    assert main([str(table), "--n-bootstrap", "20", "--columns", "N=params,D=toks,loss=final,label=name"]) == 0
    printed = capsys.readouterr().out
    assert "Approach 3 (15 runs)" in printed and "fit checks: 15 runs used, 0 excluded" in printed
    fit = json.loads((tmp_path / "paper_analysis" / "fit.json").read_text())
    assert abs(fit["fits"]["chinchilla"]["params"]["alpha"] - TRUE["alpha"]) < 0.02
    assert "paper/n1000000_r5" in fit["runs_used"] and "envelope" in fit["skipped_fits"]
    assert (tmp_path / "paper_analysis" / "chinchilla_fit.png").exists()


def test_cli_params_and_flops_definitions(tmp_path, capsys):
    study = write_study(tmp_path, [10**6, 2 * 10**6, 4 * 10**6, 8 * 10**6, 16 * 10**6])
    assert main([str(study), "--n-bootstrap", "0", "--params", "non_embedding"]) == 0
    fit = json.loads((study / "analysis" / "fit.json").read_text())
    assert fit["definitions"] == "N = non-embedding parameters, C = 6ND"
    assert fit["fits"]["extrapolation"]["held_out_N"] == 16 * 10**6 // 2  # write_run: non-embedding = N / 2
    capsys.readouterr()
    assert main([str(study), "--n-bootstrap", "0", "--flops", "with_attention"]) == 0
    printed = capsys.readouterr().out  # write_run's CSVs predate flops_with_attention
    assert "WARNING: 5 run(s) have no flops_with_attention (chosen by with_attention" in printed
    assert "Fitting 0 runs" in printed
