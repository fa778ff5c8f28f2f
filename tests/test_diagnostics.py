"""diagnostics.py: flags that could fail, on synthetic Chinchilla-law runs with known answers."""
from __future__ import annotations

import numpy as np
import pandas as pd

from experimental_analysis import fit_chinchilla
from experimental_analysis.diagnostics import chinchilla_diagnostics, diagnostics_lines, parameter_flag

TRUE = (1.69, 406.4, 410.7, 0.34, 0.28)  # E, A, B, alpha, beta


def runs(n_sizes: int = 6, ratios=(5, 20, 80), noise: float = 0.003, seed: int = 0) -> pd.DataFrame:
    E, A, B, alpha, beta = TRUE
    N = np.repeat(np.logspace(7, 9, n_sizes), len(ratios))
    D = N * np.tile(ratios, n_sizes)
    loss = (E + A / N**alpha + B / D**beta) * np.exp(np.random.default_rng(seed).normal(0, noise, len(N)))
    return pd.DataFrame({"folder": "s", "label": [f"r{i}" for i in range(len(N))], "total_params": N,
                         "tokens": D, "flops": 6 * N * D, "final_loss": loss})


def diagnose(frame: pd.DataFrame, n_bootstrap: int = 200):
    fit = fit_chinchilla(frame["total_params"], frame["tokens"], frame["final_loss"], n_bootstrap=n_bootstrap)
    return fit, chinchilla_diagnostics(fit, frame, "final_loss", n_excluded=2)


def test_an_identified_fit_has_no_flags_and_only_far_budgets_are_unreliable():
    fit, diag = diagnose(runs())
    assert not any(diag.parameter_flags.values()), diag.parameter_flags
    assert diag.n_used == 18 and diag.n_excluded == 2 and diag.duplicates == 0 and not diag.outliers
    assert diag.rms_log_residual < 0.01
    verdicts = [p["verdict"] for p in diag.predictions]
    assert verdicts[:3] == ["ok", "ok", "ok"]  # the fitted range's ends and 10x beyond it
    assert verdicts[-1].startswith("UNRELIABLE: C outside the fitted range")  # 10,000x beyond


def test_too_few_runs_flag_parameters_and_every_prediction():
    _, diag = diagnose(runs(n_sizes=2, ratios=(5, 80)))  # 4 runs for 5 parameters
    assert any(diag.parameter_flags.values())
    assert all(p["verdict"].startswith("UNRELIABLE") for p in diag.predictions)
    printed = "\n".join(diagnostics_lines(diag))
    assert "FLAG" in printed and "UNRELIABLE" in printed


def test_outlying_and_duplicated_runs_are_named():
    frame = runs()
    frame.loc[4, "final_loss"] *= 1.3  # one run far off the law
    frame = pd.concat([frame, frame.iloc[[0, 0]].assign(label=["dup1", "dup2"])], ignore_index=True)
    _, diag = diagnose(frame, n_bootstrap=0)
    assert [run for run, _ in diag.outliers] == ["s/r4"]
    assert diag.duplicates == 2


def test_parameter_flag_rules():
    assert parameter_flag("E", 1e-15, (1e-15, 1.9), 2.0).startswith("E = 1e-15 is at its bound 0")
    assert "zero-width" in parameter_flag("alpha", 1.44, (1.44, 1.44), 2.0)
    assert "wider than +-50%" in parameter_flag("beta", 0.3, (0.1, 0.35), 2.0)
    assert "factor 10" in parameter_flag("A", 4.9, (4.3, 688.5), 2.0)
    assert parameter_flag("A", 400.0, (300.0, 500.0), 2.0) == ""
