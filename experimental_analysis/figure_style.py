"""How every figure of the analysis looks, and the check that refuses an unreadable one.

``save`` writes a figure only when each data axis has a title, x and y labels that carry a unit
or qualifier in parentheses ("compute C (FLOPs, 6ND)", "final loss (nats/token)"), at least
two labelled ticks on each axis, and legends that lie outside the data area. Log axes get real
numbers as tick labels: a log axis spanning less than a decade has no labelled decade tick,
and matplotlib hides its minor labels, which left the y axes of earlier figures bare.
"""
from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import matplotlib.ticker as ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DPI = 130
FIGSIZE = (7.5, 6.0)  # room for the legend under the data and a colour bar right of it
UNIT = re.compile(r"\(.+\)")


class FigureError(ValueError):
    """A figure that a reader could not read; raised instead of writing it."""


def figure():
    """A new figure and its axes at the analysis's size."""
    return plt.subplots(figsize=FIGSIZE)


def legend_outside(ax, **kwargs) -> None:
    """The legend under the axes (the colour bar takes the right side), never over the data."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), borderaxespad=0.0, fontsize=8, ncol=2,
              frameon=False, **kwargs)


def _readable_log_ticks(axis, lo: float, hi: float) -> None:
    """Major ticks at 1, 2, 5 x 10^k (or every decade when the range is wide), labelled as numbers."""
    decades = np.log10(hi / lo) if lo > 0 and hi > lo else 0.0
    if decades < 0.6:
        axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
    elif decades < 1.5:
        axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    elif decades < 4:
        axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 3.0)))
    axis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:.3g}"))
    axis.set_minor_formatter(ticker.NullFormatter())


def _is_colorbar(ax) -> bool:
    return ax.get_label() == "<colorbar>"


def _labelled_ticks(axis, limits) -> int:
    lo, hi = sorted(limits)
    return sum(1 for tick, text in zip(axis.get_majorticklocs(), axis.get_majorticklabels())
               if lo <= tick <= hi and text.get_text().strip())


def _problems(fig) -> list[str]:
    """What makes the figure unreadable, one phrase each (after layout, so ticks are final)."""
    problems = []
    for k, ax in enumerate(fig.axes):
        if _is_colorbar(ax):
            label = ax.get_ylabel() or ax.get_xlabel()
            if not UNIT.search(label):
                problems.append(f"colour bar {k} has no label with a unit in parentheses (got {label!r})")
            continue
        if not ax.get_title():
            problems.append(f"axes {k} has no title")
        for name, axis, limits in (("x", ax.xaxis, ax.get_xlim()), ("y", ax.yaxis, ax.get_ylim())):
            label = axis.get_label_text()
            if not UNIT.search(label):
                problems.append(f"axes {k} {name} label {label!r} has no unit in parentheses")
            if _labelled_ticks(axis, limits) < 2:
                problems.append(f"axes {k} {name} axis has fewer than 2 labelled ticks")
        legend = ax.get_legend()
        if legend is not None:
            renderer = fig.canvas.get_renderer()
            overlap = legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
            if overlap:
                problems.append(f"axes {k} legend lies over the data (use legend_outside)")
    return problems


def save(fig, path: Path) -> Path:
    """Lay out, check and write the figure (PNG); raises FigureError naming the file and what is wrong."""
    for ax in fig.axes:
        if _is_colorbar(ax):
            continue
        for axis, (lo, hi), scale in ((ax.xaxis, ax.get_xlim(), ax.get_xscale()),
                                      (ax.yaxis, ax.get_ylim(), ax.get_yscale())):
            if scale == "log":
                _readable_log_ticks(axis, min(lo, hi), max(lo, hi))
    fig.tight_layout()
    fig.canvas.draw()
    problems = _problems(fig)
    if problems:
        plt.close(fig)
        raise FigureError(f"refusing to write {path}: " + "; ".join(problems))
    fig.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=0.15)  # legends under the axes stay whole
    plt.close(fig)
    return Path(path)
