"""figure_style.save: readable figures are written, unreadable ones refused with the reason."""
from __future__ import annotations

import numpy as np
import pytest

from experimental_analysis.figure_style import FigureError, figure, legend_outside, save


def log_plot(xlabel="compute C (FLOPs)", ylabel="final loss (nats/token)", title="t", legend_inside=False):
    fig, ax = figure()
    x = np.logspace(10, 12, 20)
    ax.plot(x, 3.0 + 0.3 * np.sin(np.arange(20)), label="runs")  # y spans much less than a decade
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(loc="center") if legend_inside else legend_outside(ax)
    return fig, ax


def test_a_log_axis_within_one_decade_gets_number_tick_labels(tmp_path):
    fig, ax = log_plot()
    path = save(fig, tmp_path / "ok.png")
    assert path.stat().st_size > 1000
    labels = [t.get_text() for t in ax.yaxis.get_majorticklabels()
              if ax.get_ylim()[0] <= t.get_position()[1] <= ax.get_ylim()[1]]
    assert len([t for t in labels if t]) >= 2 and all("$" not in t for t in labels)  # plain numbers


@pytest.mark.parametrize("kwargs, problem", [
    (dict(ylabel="loss"), "y label 'loss' has no unit"),
    (dict(xlabel=""), "x label '' has no unit"),
    (dict(title=""), "has no title"),
    (dict(legend_inside=True), "legend lies over the data"),
])
def test_unreadable_figures_are_refused(tmp_path, kwargs, problem):
    fig, _ = log_plot(**kwargs)
    with pytest.raises(FigureError, match=problem):
        save(fig, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_an_axis_without_labelled_ticks_is_refused(tmp_path):
    fig, ax = figure()
    ax.plot([1, 2, 3], [3.0, 2.5, 2.4])
    ax.set(xlabel="step (optimizer steps)", ylabel="loss (nats/token)", title="t", yticks=[])
    with pytest.raises(FigureError, match="y axis has fewer than 2 labelled ticks"):
        save(fig, tmp_path / "bare.png")
