"""PNG figures for the CLI; every one goes through figure_style.save, which refuses unreadable ones."""
from __future__ import annotations

from pathlib import Path

import matplotlib.colors
import numpy as np
import pandas as pd

from .analysis import Analysis, compute_frontier
from .figure_style import FIGSIZE, figure, legend_outside, plt, save
from .isoflop import BUDGET_RTOL
from .learning_rate import sweep_keys, with_parametrization

EMA_SPAN_FRACTION = 0.05  # training-curve smoothing: an EMA over 5% of a run's logged steps
MAX_FIT_CURVES = 8  # fitted L(N, D) curves drawn (at evenly spaced sizes) when there are more sizes
BAND = (2.5, 97.5)  # bootstrap percentiles of the shaded bands


def loss_label(analysis: Analysis) -> str:
    kind = "validation" if analysis.loss_column == "final_val_loss" else "training"
    return f"final {kind} loss (nats/token)"


def _title(analysis: Analysis, what: str, loss_column: bool = True) -> str:
    study = f"{analysis.study}: " if analysis.study else ""
    return f"{study}{what}\n" + (f"{analysis.loss_column}; " if loss_column else "") + analysis.definitions


def _size_norm(sizes) -> matplotlib.colors.LogNorm:
    sizes = np.asarray(sizes, float)
    lo, hi = np.nanmin(sizes), np.nanmax(sizes)
    return matplotlib.colors.LogNorm(vmin=lo, vmax=hi if hi > lo else lo * 1.01)


def _size_colorbar(fig, ax, norm, analysis: Analysis) -> None:
    mappable = plt.cm.ScalarMappable(norm=norm, cmap="viridis")
    fig.colorbar(mappable, ax=ax, label=f"{analysis.n_label}")


def _band(draws: np.ndarray, predict) -> tuple[np.ndarray, np.ndarray]:
    """Percentile band of predict(E, A, B, alpha, beta) over the bootstrap draws."""
    with np.errstate(all="ignore"):  # far-off draws overflow; they fall outside the percentiles
        values = np.array([predict(*d) for d in draws])
    return tuple(np.nanpercentile(values, BAND, axis=0))


def _chinchilla_equation(fit) -> str:
    return f"Approach 3: L = {fit.E:.3g} + {fit.A:.3g}/N^{fit.alpha:.3f} + {fit.B:.3g}/D^{fit.beta:.3f}"


def _fit_caveat(analysis: Analysis) -> str:
    """What a legend adds to the Approach 3 fit when its diagnostics flag it (diagnostics.py)."""
    diag = analysis.diagnostics.get("chinchilla")
    return "" if diag is None or diag.reliable else " (UNRELIABLE: flagged parameters)"


def plot_loss_vs_compute(runs: pd.DataFrame, analysis: Analysis, path: Path) -> Path:
    """Final loss against compute, the observed frontier, and the fitted compute-optimal law with its band."""
    loss_column = analysis.loss_column
    fig, ax = figure()
    norm = _size_norm(runs["total_params"])
    ax.scatter(runs["flops"], runs[loss_column], c=runs["total_params"].astype(float), cmap="viridis", norm=norm,
               s=22, zorder=3, label="runs")
    _size_colorbar(fig, ax, norm, analysis)
    frontier = compute_frontier(runs, loss_column)
    ax.plot(frontier["flops"], frontier[loss_column], "k--", lw=1, label="observed frontier (no cheaper run is better)")
    if "chinchilla" in analysis.fits:
        fit = analysis.fits["chinchilla"]
        C = np.logspace(np.log10(runs["flops"].min()), np.log10(runs["flops"].max()), 100)
        caveat = _fit_caveat(analysis)
        ax.plot(C, fit.predict(fit.N_opt(C), fit.D_opt(C)), "r-",
                label=f"Approach 3 compute-optimal L(C), N_opt ~ C^{fit.a:.2f}{caveat}")
        if len(fit.draws):
            lo, hi = _band(fit.draws, lambda *p: _optimal_loss(p, C))
            ax.fill_between(C, lo, hi, color="r", alpha=0.15, lw=0, label="95% bootstrap band")
    if "kaplan_C" in analysis.fits:
        k = analysis.fits["kaplan_C"]
        C = np.logspace(np.log10(frontier["flops"].min()), np.log10(frontier["flops"].max()), 100)
        ax.plot(C, k.predict(C), "b:", label=f"Kaplan L(C) = {k.E:.3g} + ({k.x_c:.3g}/C)^{k.alpha:.3f}")
    ax.set(xscale="log", yscale="log", xlabel=analysis.c_label, ylabel=loss_label(analysis),
           title=_title(analysis, "loss vs compute"))
    legend_outside(ax)
    return save(fig, path)


def _optimal_loss(params, C: np.ndarray) -> np.ndarray:
    """L(N_opt(C), D_opt(C)) for one parameter vector (E, A, B, alpha, beta), under C = 6ND."""
    E, A, B, alpha, beta = params
    with np.errstate(all="ignore"):
        G = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
        n = G * (C / 6.0) ** (beta / (alpha + beta))
        d = (C / 6.0) ** (alpha / (alpha + beta)) / G
        return E + A / n**alpha + B / d**beta


def _curve_sizes(sizes: np.ndarray) -> np.ndarray:
    distinct = np.unique(sizes)
    if len(distinct) <= MAX_FIT_CURVES:
        return distinct
    return distinct[np.linspace(0, len(distinct) - 1, MAX_FIT_CURVES).round().astype(int)]


def plot_chinchilla_fit(runs: pd.DataFrame, analysis: Analysis, path: Path) -> Path:
    """Final loss against tokens coloured by N (colour bar), with fitted L(N, D) curves and bootstrap bands."""
    fit, loss_column = analysis.fits["chinchilla"], analysis.loss_column
    fig, ax = figure()
    norm = _size_norm(runs["total_params"])
    ax.scatter(runs["tokens"], runs[loss_column], c=runs["total_params"].astype(float), cmap="viridis", norm=norm,
               s=22, zorder=3, label="runs (colour: N)")
    D = np.logspace(np.log10(runs["tokens"].min()) - 0.2, np.log10(runs["tokens"].max()) + 0.2, 100)
    for k, n in enumerate(_curve_sizes(runs["total_params"].to_numpy(float))):
        color = plt.cm.viridis(norm(n))
        ax.plot(D, fit.predict(n, D), color=color, lw=1.2,
                label=_chinchilla_equation(fit) + _fit_caveat(analysis) if k == 0 else None)
        if len(fit.draws):
            lo, hi = _band(fit.draws, lambda E, A, B, a, b: E + A / n**a + B / D**b)
            ax.fill_between(D, lo, hi, color=color, alpha=0.12, lw=0, label="95% bootstrap band" if k == 0 else None)
    _size_colorbar(fig, ax, norm, analysis)
    ax.set(xscale="log", yscale="log", xlabel="training tokens D (tokens)", ylabel=loss_label(analysis),
           title=_title(analysis, "fitted L(N, D) against the runs"))
    legend_outside(ax)
    return save(fig, path)


def plot_isoflop(runs: pd.DataFrame, analysis: Analysis, path: Path) -> Path:
    """IsoFLOP profiles: the parabola of loss in log N per budget, and its minimum."""
    fit = analysis.fits["isoflop"]
    fig, ax = figure()
    ax.scatter(runs["total_params"], runs[analysis.loss_column], c="lightgray", s=14,
               label="runs (gray: not on a fitted budget)")
    for budget, (c2, c1, c0), n_opt in zip(fit.budgets, fit.parabolas, fit.N_opt):
        x = np.linspace(np.log(n_opt) - 1.2, np.log(n_opt) + 1.2, 50)
        line, = ax.plot(np.exp(x), c2 * x**2 + c1 * x + c0, label=f"C = {budget:.2g} FLOPs: N_opt = {n_opt:.3g}")
        ax.plot(n_opt, c0 - c1**2 / (4 * c2), "D", color=line.get_color(), ms=7)
        mine = np.abs(np.log(runs["flops"].to_numpy(float) / budget)) < np.log1p(BUDGET_RTOL)
        ax.scatter(runs["total_params"][mine], runs[analysis.loss_column][mine], color=line.get_color(), s=18)
    ax.plot([], [], "kD", ms=6, label=f"parabola minima: N_opt ~ C^{fit.a:.2f}, D_opt ~ C^{fit.b:.2f} (Approach 2)")
    ax.set(xscale="log", xlabel=analysis.n_label, ylabel=loss_label(analysis),
           title=_title(analysis, "IsoFLOP profiles"))
    legend_outside(ax)
    return save(fig, path)


def plot_lr_sweep(lr_runs: pd.DataFrame, analysis: Analysis, path: Path) -> Path:
    """Final loss (mean over seeds) against learning rate, one panel per parametrization (SP, muP, ...), one
    line per swept size (width, depth, token budget), each size's best LR ringed; shared loss axis."""
    lr_runs = with_parametrization(lr_runs)
    arms = sorted(lr_runs["parametrization"].unique(), key=lambda arm: (arm != "SP", arm))
    fig, axes = plt.subplots(1, len(arms), figsize=(FIGSIZE[0] * (1 + 0.6 * (len(arms) - 1)), FIGSIZE[1]),
                             sharey=True, squeeze=False)
    size_keys = [k for k in sweep_keys(lr_runs) if k != "parametrization"]
    sizes = sorted({tuple(row) for row in lr_runs[size_keys].itertuples(index=False)})
    colour_of = dict(zip(sizes, plt.cm.viridis(np.linspace(0, 0.9, len(sizes)))))
    for ax, arm in zip(axes[0], arms):
        for size, group in lr_runs[lr_runs["parametrization"] == arm].groupby(size_keys):
            if group["learning_rate"].nunique() < 2:
                continue
            by_lr = group.groupby("learning_rate")[analysis.loss_column].mean()
            ax.plot(by_lr.index, by_lr.values, "o-", ms=3, color=colour_of[size], label=_size_label(size_keys, size))
            ax.plot(by_lr.idxmin(), by_lr.min(), "o", ms=9, mfc="none", color=colour_of[size])
        ax.set(xscale="log", xlabel="peak learning rate (config learning_rate)", ylabel=loss_label(analysis), title=arm)
        ax.tick_params(labelleft=True)  # shared loss axis, labelled on every panel
        legend_outside(ax)
    fig.suptitle(_title(analysis, "loss vs learning rate (mean over seeds; ring: best per size)"), fontsize=9)
    return save(fig, path)


def _size_label(keys: list[str], values) -> str:
    """'width 256, 8 layers, D = 3.28e+06' for one swept size."""
    names = {"hidden_dim": "width {}", "num_layers": "{} layers", "tokens": "D = {:.3g}", "architecture": "{}"}
    return ", ".join(names.get(k, k + " {}").format(v) for k, v in zip(keys, values))


def _ema(values: np.ndarray) -> np.ndarray:
    """Exponential moving average with a span of EMA_SPAN_FRACTION of the points (at least 2)."""
    alpha = 2.0 / (max(2.0, EMA_SPAN_FRACTION * len(values)) + 1.0)
    return pd.Series(values).ewm(alpha=alpha, adjust=True).mean().to_numpy()


def plot_training_curves(curves: pd.DataFrame, analysis: Analysis, path: Path) -> Path:
    """Training loss against compute per run: raw (faint) and EMA-smoothed, coloured by N; Approach 1 envelope."""
    fig, ax = figure()
    norm = _size_norm(curves["total_params"])
    for _, run in curves.groupby("run"):
        ok = np.isfinite(run["loss"]) & (run["flops"] > 0)
        color = plt.cm.viridis(norm(run["total_params"].iloc[0]))
        flops, loss = run["flops"][ok].to_numpy(float), run["loss"][ok].to_numpy(float)
        ax.plot(flops, loss, color=color, lw=0.5, alpha=0.2)
        ax.plot(flops, _ema(loss), color=color, lw=1.3)
    ax.plot([], [], color="gray", lw=0.5, alpha=0.4, label="per-step loss")
    ax.plot([], [], color="gray", lw=1.3, label=f"EMA (span {EMA_SPAN_FRACTION:.0%} of a run's steps)")
    if "envelope" in analysis.fits:
        env = analysis.fits["envelope"]
        ax.plot(env.flops, env.loss, "r--", lw=1.5, label=f"Approach 1 envelope, N_opt ~ C^{env.a:.2f}")
    _size_colorbar(fig, ax, norm, analysis)
    finite = curves["loss"][np.isfinite(curves["loss"])]
    ax.set_ylim(finite.min() * 0.97, np.percentile(finite, 99) * 1.03)
    ax.set(xscale="log", xlabel=analysis.c_label, ylabel="training loss (nats/token)",
           title=_title(analysis, "training curves (per-step training loss)", loss_column=False))
    legend_outside(ax)
    return save(fig, path)


def plot_loss_by_architecture(runs: pd.DataFrame, analysis: Analysis, path: Path) -> Path:
    """The lowest final loss at each non-embedding size, one line per architecture (Kaplan et al. 2020 fig. 7:
    LSTMs against transformers at equal N)."""
    loss_column = analysis.loss_column
    fig, ax = figure()
    for name, family in runs.groupby("architecture"):
        best = family.groupby("non_embedding_params")[loss_column].min().sort_index()
        ax.plot(best.index.astype(float), best.values, "o-", label=name)
    ax.set(xscale="log", xlabel="non-embedding parameters N (count)", ylabel=loss_label(analysis),
           title="best final loss vs non-embedding parameters, per architecture")
    legend_outside(ax)
    return save(fig, path)
