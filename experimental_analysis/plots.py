"""PNG figures for the CLI (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .analysis import Analysis, compute_frontier  # noqa: E402
from .learning_rate import sweep_keys  # noqa: E402


def _save(fig, path: Path) -> Path:
    """Write and close a figure (log axes keep only their decade labels: minor labels overlap)."""
    for ax in fig.axes:
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _size_colors(sizes: np.ndarray) -> dict:
    """One viridis colour per distinct model size, small to large."""
    distinct = np.unique(sizes)
    return {n: plt.cm.viridis(i / max(len(distinct) - 1, 1)) for i, n in enumerate(distinct)}


def plot_loss_vs_compute(runs: pd.DataFrame, analysis: Analysis, path: Path) -> Path:
    """Final loss against FLOPs, the observed frontier, and the Approach 3 compute-optimal curve."""
    loss_column = analysis.loss_column
    fig, ax = plt.subplots(figsize=(6, 4.5))
    points = ax.scatter(runs["flops"], runs[loss_column], c=np.log10(runs["total_params"].astype(float)),
                        cmap="viridis")
    fig.colorbar(points, ax=ax, label="log10 parameters N")
    frontier = compute_frontier(runs, loss_column)
    ax.plot(frontier["flops"], frontier[loss_column], "k--", lw=1, label="observed frontier")
    if "chinchilla" in analysis.fits:
        fit, C = analysis.fits["chinchilla"], np.logspace(np.log10(runs["flops"].min()), np.log10(runs["flops"].max()), 100)
        ax.plot(C, fit.predict(fit.N_opt(C), fit.D_opt(C)), "r-", label="Approach 3 compute-optimal")
    ax.set(xscale="log", yscale="log", xlabel="compute C (FLOPs)", ylabel=loss_column, title="loss vs compute")
    ax.legend()
    return _save(fig, path)


def plot_chinchilla_fit(runs: pd.DataFrame, analysis: Analysis, path: Path) -> Path:
    """Final loss against tokens, one colour per model size, with the fitted L(N, D) curves."""
    fit, loss_column = analysis.fits["chinchilla"], analysis.loss_column
    colors = _size_colors(runs["total_params"].to_numpy(float))
    fig, ax = plt.subplots(figsize=(6, 4.5))
    D = np.logspace(np.log10(runs["tokens"].min()) - 0.3, np.log10(runs["tokens"].max()) + 0.3, 100)
    for n, group in runs.groupby("total_params"):
        ax.scatter(group["tokens"], group[loss_column], color=colors[n], label=f"N={n:.3g}")
        ax.plot(D, fit.predict(n, D), color=colors[n], lw=1)
    ax.set(xscale="log", yscale="log", xlabel="tokens D", ylabel=loss_column, title="fitted L(N, D) vs data")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_isoflop(runs: pd.DataFrame, analysis: Analysis, path: Path) -> Path:
    """IsoFLOP profiles: the parabola of loss in log N per budget, and its minimum."""
    fit = analysis.fits["isoflop"]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for budget, (c2, c1, c0), n_opt in zip(fit.budgets, fit.parabolas, fit.N_opt):
        x = np.linspace(np.log(n_opt) - 1.5, np.log(n_opt) + 1.5, 50)
        line, = ax.plot(np.exp(x), c2 * x**2 + c1 * x + c0, label=f"C={budget:.2g}")
        ax.plot(n_opt, c0 - c1**2 / (4 * c2), "o", color=line.get_color())
    ax.scatter(runs["total_params"], runs[analysis.loss_column], c="gray", s=10)
    ax.set(xscale="log", xlabel="parameters N", ylabel=analysis.loss_column, title="IsoFLOP profiles")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_lr_sweep(lr_runs: pd.DataFrame, analysis: Analysis, path: Path) -> Path:
    """Final loss against learning rate, one line per swept width (and token budget)."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for key, group in lr_runs.groupby(sweep_keys(lr_runs)):
        if group["learning_rate"].nunique() < 2:
            continue
        by_lr = group.groupby("learning_rate")[analysis.loss_column].mean()
        width, *tokens = key
        ax.plot(by_lr.index, by_lr.values, "o-", label=f"width {width}" + (f", D={tokens[0]:.3g}" if tokens else ""))
    ax.set(xscale="log", xlabel="learning rate", ylabel=analysis.loss_column, title="loss vs learning rate")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_training_curves(curves: pd.DataFrame, analysis: Analysis, path: Path) -> Path:
    """Training loss against FLOPs for every run, with the Approach 1 envelope when fitted."""
    colors = _size_colors(curves["total_params"].to_numpy(float))
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for _, run in curves.groupby("run"):
        ok = np.isfinite(run["loss"]) & (run["flops"] > 0)
        ax.plot(run["flops"][ok], run["loss"][ok], color=colors[run["total_params"].iloc[0]], lw=0.8)
    if "envelope" in analysis.fits:
        ax.plot(analysis.fits["envelope"].flops, analysis.fits["envelope"].loss, "r--", lw=1.5, label="envelope")
        ax.legend()
    ax.set(xscale="log", yscale="log", xlabel="compute C (FLOPs)", ylabel="training loss", title="training curves")
    return _save(fig, path)


def plot_loss_by_architecture(runs: pd.DataFrame, analysis: Analysis, path: Path) -> Path:
    """The lowest final loss at each non-embedding size, one line per architecture (Kaplan et al. 2020 fig. 7:
    LSTMs against transformers at equal N)."""
    loss_column = analysis.loss_column
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, family in runs.groupby("architecture"):
        best = family.groupby("non_embedding_params")[loss_column].min().sort_index()
        ax.plot(best.index.astype(float), best.values, "o-", label=name)
    ax.set(xscale="log", xlabel="non-embedding parameters N", ylabel=loss_column,
           title="loss vs non-embedding parameters, per architecture")
    ax.legend()
    return _save(fig, path)
