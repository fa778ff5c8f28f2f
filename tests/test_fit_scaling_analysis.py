"""The fits recover known laws from synthetic data, agree with the slow reference, reject bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experimental_analysis import (best_learning_rates, fit_chinchilla, fit_envelope, fit_isoflop,
                                   fit_kaplan)
from experimental_analysis.report import learning_rate_lines
from experimental_analysis.chinchilla_bootstrap import bootstrap_thetas, resample_counts
from experimental_analysis.chinchilla_optimizer import LogData, minimise_reference
from experimental_analysis.huber_lse import initial_grid, objective_and_grad

TRUE = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}  # Hoffmann et al. eq. 10
TRUE_A = TRUE["beta"] / (TRUE["alpha"] + TRUE["beta"])


def law(N, D, p=TRUE):
    """The Chinchilla law with parameters p."""
    return p["E"] + p["A"] / np.asarray(N, float) ** p["alpha"] + p["B"] / np.asarray(D, float) ** p["beta"]


def synthetic_runs(n_runs: int, noise: float, seed: int):
    """(N, D, loss): log-uniform sizes and tokens-per-parameter, multiplicative noise."""
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(1e6), np.log(3e9), n_runs))
    D = N * np.exp(rng.uniform(np.log(1), np.log(400), n_runs))
    return N, D, law(N, D) * np.exp(rng.normal(0.0, noise, n_runs))


@pytest.fixture(scope="module")
def chinchilla_fit():
    N, D, loss = synthetic_runs(80, 0.003, seed=0)
    return fit_chinchilla(N, D, loss, n_bootstrap=200, seed=1)


def test_chinchilla_recovers_known_law(chinchilla_fit):
    fit = chinchilla_fit
    assert fit.E == pytest.approx(TRUE["E"], rel=0.03)
    assert fit.alpha == pytest.approx(TRUE["alpha"], abs=0.03)
    assert fit.beta == pytest.approx(TRUE["beta"], abs=0.03)
    assert np.log(fit.A) == pytest.approx(np.log(TRUE["A"]), abs=0.5)
    assert np.log(fit.B) == pytest.approx(np.log(TRUE["B"]), abs=0.5)
    assert fit.a == pytest.approx(TRUE_A, abs=0.03) and fit.a + fit.b == pytest.approx(1.0)
    assert "Approach 3" in fit.estimator


def test_chinchilla_bootstrap_intervals_cover_truth(chinchilla_fit):
    intervals = chinchilla_fit.intervals
    assert len(chinchilla_fit.draws) == 200
    for name in ("E", "A", "B", "alpha", "beta"):
        lo, hi = intervals[name]
        assert lo <= TRUE[name] <= hi, (name, lo, hi)
    lo, hi = intervals["a"]
    assert lo <= TRUE_A <= hi


def test_compute_optimal_allocation_is_the_constrained_minimum(chinchilla_fit):
    fit, C = chinchilla_fit, 1e21
    N_opt, D_opt = fit.N_opt(C), fit.D_opt(C)
    assert 6 * N_opt * D_opt == pytest.approx(C, rel=1e-9)
    N_grid = N_opt * np.exp(np.linspace(-1, 1, 201))
    assert N_grid[np.argmin(fit.predict(N_grid, C / (6 * N_grid)))] == pytest.approx(N_opt, rel=0.02)
    lo, hi = fit.N_opt_interval(C)
    assert lo < N_opt < hi
    assert fit.predict(1e9, 2e10) == pytest.approx(law(1e9, 2e10), rel=0.01)


def test_fast_fit_matches_plain_scipy_from_every_start():
    """Screen + prune + polish gives the reference answer (scipy L-BFGS-B from all starts)."""
    N, D, loss = synthetic_runs(25, 0.01, seed=3)
    starts = initial_grid()[::300]  # 15 starts keep the reference fast
    fast = fit_chinchilla(N, D, loss, n_bootstrap=0, starts=starts)
    theta_ref, objective_ref = minimise_reference(LogData(N, D, loss), starts)
    assert fast.objective == pytest.approx(objective_ref, rel=1e-8)
    reference = [np.exp(theta_ref[2]), np.exp(theta_ref[0]), np.exp(theta_ref[1]), theta_ref[3], theta_ref[4]]
    np.testing.assert_allclose(fast.params, reference, rtol=1e-4)
    full_grid = fit_chinchilla(N, D, loss, n_bootstrap=0)  # exercises the screen-and-prune path
    assert full_grid.objective <= objective_ref * (1 + 1e-8)
    np.testing.assert_allclose(full_grid.params, reference, rtol=1e-4)


def test_batched_bootstrap_matches_reference_on_resamples():
    N, D, loss = synthetic_runs(20, 0.01, seed=4)
    data, starts = LogData(N, D, loss), initial_grid()[::900]
    theta_hat, _ = minimise_reference(data, starts)
    draws = bootstrap_thetas(data, theta_hat, starts, n_bootstrap=2, seed=7)
    for counts, theta in zip(resample_counts(len(N), 2, seed=7), draws):
        repeated = [np.repeat(x, counts.astype(int)) for x in (N, D, loss)]
        f_batched = objective_and_grad(theta[None], *(np.log(x) for x in repeated))[0][0]
        _, f_reference = minimise_reference(LogData(*repeated), np.vstack([theta_hat, starts]))
        assert f_batched == pytest.approx(f_reference, rel=1e-6)


def test_isoflop_recovers_allocation_exponent():
    budgets = np.array([1e17, 1e18, 1e19, 1e20])
    N = np.concatenate([np.sqrt(C / 120) * np.exp(np.linspace(-1.5, 1.5, 9)) for C in budgets])
    C = np.repeat(budgets, 9) * np.exp(np.random.default_rng(0).normal(0, 0.005, N.size))  # logged C jitters
    D = C / (6 * N)
    fit = fit_isoflop(N, D, law(N, D), C)
    assert len(fit.budgets) == 4 and "Approach 2" in fit.estimator
    assert fit.a == pytest.approx(TRUE_A, abs=0.02)
    assert fit.b == pytest.approx(1 - TRUE_A, abs=0.02)


def test_isoflop_without_repeated_budgets_says_what_it_needs():
    N, D, loss = synthetic_runs(8, 0.0, seed=5)
    with pytest.raises(ValueError, match="at least 2 compute budgets"):
        fit_isoflop(N, D, loss, 6 * N * D)


def test_kaplan_recovers_parameters():
    rng = np.random.default_rng(0)
    x = np.exp(rng.uniform(np.log(1e6), np.log(1e11), 25))
    loss = (1.5 + (1e5 / x) ** 0.3) * np.exp(rng.normal(0, 0.001, x.size))
    fit = fit_kaplan(x, loss, "N")
    assert fit.E == pytest.approx(1.5, rel=0.02)
    assert fit.alpha == pytest.approx(0.3, abs=0.02)
    assert np.log(fit.x_c) == pytest.approx(np.log(1e5), abs=0.5)
    assert "Kaplan" in fit.estimator and fit.predict(1e8) == pytest.approx(1.5 + (1e5 / 1e8) ** 0.3, rel=0.01)


def test_envelope_of_synthetic_curves_recovers_allocation_exponent():
    sizes = np.exp(np.linspace(np.log(1e6), np.log(1e9), 16))
    rows = []
    for N in sizes:
        D = np.exp(np.linspace(np.log(1e6), np.log(N * 200), 60))
        rows.append(pd.DataFrame({"run": f"N{N:.0f}", "total_params": N, "flops": 6 * N * D, "loss": law(N, D)}))
    fit = fit_envelope(pd.concat(rows))
    assert "Approach 1" in fit.estimator
    assert fit.a == pytest.approx(TRUE_A, abs=0.06)


def test_envelope_rejects_missing_columns():
    with pytest.raises(ValueError, match=r"lack column\(s\) \['run'"):
        fit_envelope(pd.DataFrame({"flops": [1.0], "loss": [1.0], "total_params": [1.0]}))


def test_best_learning_rates_per_width():
    rows = [{"hidden_dim": width, "learning_rate": lr, "final_val_loss": 3 + (np.log(lr / best)) ** 2}
            for width, best in ((64, 3e-3), (128, 1e-3)) for lr in (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)]
    rows.append({"hidden_dim": 256, "learning_rate": 1e-3, "final_val_loss": 2.0})  # not swept
    table = best_learning_rates(pd.DataFrame(rows)).set_index("hidden_dim")
    assert list(table.index) == [64, 128]
    assert table.loc[64, "best_lr"] == 3e-3 and table.loc[128, "parabola_lr"] == pytest.approx(1e-3, rel=1e-6)


def test_best_learning_rates_keep_parametrizations_apart_and_report_drift_and_seed_spread():
    """muP and SP runs of one width are separate sweeps (averaging them would hide both optima); seeds average."""
    best = {("SP", 128): 2 ** -8, ("SP", 512): 2 ** -10, ("muP", 128): 2 ** -8, ("muP", 512): 2 ** -8}
    rows = [{"hidden_dim": width, "learning_rate": lr, "use_mup": arm == "muP", "seed": seed,
             "final_val_loss": 2 + (np.log2(lr / best[arm, width])) ** 2 / 10 + 0.01 * seed + (arm == "SP") * 0.1}
            for (arm, width) in best for seed in (0, 1) for lr in 2.0 ** np.arange(-12, -5)]
    table = best_learning_rates(pd.DataFrame(rows)).set_index(["parametrization", "hidden_dim"])
    assert set(table.index) == set(best)
    assert table.loc[("SP", 512), "best_lr"] == pytest.approx(2 ** -10)
    assert table.loc[("SP", 512), "lr_shift_log2"] == pytest.approx(-2.0)
    assert table.loc[("muP", 512), "lr_shift_log2"] == pytest.approx(0.0)
    assert table.loc[("muP", 512), "seeds"] == 2
    assert table.loc[("muP", 512), "seed_sd"] == pytest.approx(np.std([0.0, 0.01], ddof=1))
    assert table.loc[("muP", 512), "best_loss"] == pytest.approx(2.005)
    lines = "\n".join(learning_rate_lines(best_learning_rates(pd.DataFrame(rows))))
    assert "SP: best LR moves -2 .. +0 factor-2 steps" in lines and "muP: best LR moves +0 .. +0" in lines
    assert "width 512: SP 2.1050 +- 0.0071, muP 2.0050 +- 0.0071" in lines
    assert "FLAG" not in lines  # every optimum lies inside the grid
    at_edge = [{**row, "final_val_loss": -np.log(row["learning_rate"])} for row in rows if row["hidden_dim"] == 512]
    edge_lines = "\n".join(learning_rate_lines(best_learning_rates(pd.DataFrame(at_edge))))
    assert "FLAG SP, width 512: best LR 0.0156 is at the sweep's edge" in edge_lines


@pytest.mark.parametrize("call, message", [
    (lambda: fit_chinchilla([1e6, 2e6], [1e8, 2e8, 3e8], [3, 2, 1], n_bootstrap=0), "lengths differ"),
    (lambda: fit_chinchilla([1e6, -2e6, 3e6, 4e6], [1e8] * 4, [3, 2, 1, 1], n_bootstrap=0), "N must be positive"),
    (lambda: fit_chinchilla([1e6, 2e6, 3e6, 4e6], [1e8, 2e8, 3e8, 4e8], [3, np.nan, 1, 1], n_bootstrap=0),
     "loss has 1 NaN/inf"),
    (lambda: fit_chinchilla([1e6, 2e6, 3e6], [1e8, 2e8, 3e8], [3, 2, 1], n_bootstrap=0), "at least 4 runs"),
    (lambda: fit_chinchilla([1e6] * 4, [1e8, 2e8, 3e8, 4e8], [3, 2, 1, 1], n_bootstrap=0), "distinct values of N"),
    (lambda: fit_kaplan([1e6, 2e6], [3.0, 2.0]), "at least 4 points"),
    (lambda: fit_kaplan([[1e6, 2e6]], [[3.0, 2.0]]), "one-dimensional"),
    (lambda: fit_isoflop([1e6, 2e6], [1e8, 2e8], [3, 2], [0, 1]), "C must be positive"),
])
def test_bad_inputs_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
