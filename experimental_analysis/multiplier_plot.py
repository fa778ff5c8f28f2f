"""The multiplier's figure: both compute frontiers with their fitted laws, and the multiplier against loss
with its interval, the flags and caveats of multiplier_checks written under it."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .multiplier import CONFIDENCE, Comparison


def unreliable_summary(result: Comparison) -> str:
    """Per family, what makes the multiplier UNRELIABLE, in a few words: the parameters at a bound and the
    number of sizes whose best learning rate is at the grid's edge."""
    parts = []
    for front, flags in ((result.base, result.base_flags), (result.new, result.new_flags)):
        reasons = [f"{name} at a bound" for name in flags]
        if front.lr_edges:
            reasons.append(f"best lr at the grid's edge for {len(front.lr_edges)} of {len(front.labels)} sizes")
        if reasons:
            parts.append(f"{front.name}: {', '.join(reasons)}")
    return "; ".join(parts)


def plot(result: Comparison, path: Path) -> Path:
    """Left: both frontiers and their fitted laws against compute. Right: the multiplier against loss, its
    interval shaded, extrapolated losses greyed."""
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for front, fit, color in ((result.base, result.base_fit, "tab:blue"), (result.new, result.new_fit, "tab:orange")):
        left.scatter(front.compute, front.loss, color=color, zorder=3, label=f"{front.name}: best lr per size")
        measured = np.geomspace(front.compute.min(), front.compute.max(), 100)
        left.plot(measured, fit.predict(measured), color=color,
                  label=f"fit {fit.E:.2f} + ({fit.x_c:.2g}/C)^{fit.alpha:.2f}")
        for span in (np.geomspace(front.compute.min() / 3, front.compute.min()),
                     np.geomspace(front.compute.max(), front.compute.max() * 3)):
            left.plot(span, fit.predict(span), color=color, linestyle="--")  # extrapolated
    left.set(xscale="log", xlabel="training compute C = 6ND (FLOPs)", ylabel="final loss (nats/token)",
             title="compute frontiers (dashed: extrapolated)")
    left.legend(fontsize=8)
    losses = np.array([p.loss for p in result.grid])
    right.plot(losses, [p.multiplier for p in result.grid], color="black", label="multiplier (fit)")
    right.fill_between(losses, [p.low for p in result.grid], [p.high for p in result.grid], color="grey",
                       alpha=0.3, label=f"{CONFIDENCE:.0%} bootstrap interval")
    for point in result.at_losses:
        right.errorbar([point.loss], [point.multiplier], yerr=[[point.multiplier - point.low],
                       [point.high - point.multiplier]], fmt="o", color="tab:red", capsize=4,
                       label=f"at L={point.loss:.3g}: {point.multiplier:.3g} [{point.low:.3g}, {point.high:.3g}]")
    right.axhline(1.0, color="grey", linestyle=":", linewidth=1)
    right.set(yscale="log", xlabel="loss L (nats/token)",
              ylabel=f"C_{result.base.name}(L) / C_{result.new.name}(L)",
              title=f"compute multiplier of {result.new.name} over {result.base.name}"
                    + (" (UNRELIABLE)" if result.warnings() else ""))
    # Labelled ticks at 1, 2, 5 x 10^k only: labelling every minor tick crowds a range of several decades.
    right.yaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    right.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    right.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    right.invert_xaxis()  # lower loss (more compute) to the right, as on the left panel
    right.legend(fontsize=8)
    caveat = ("Shown only over the loss range both families measured." if result.ranges_overlap else
              "Ranges do not overlap: the whole curve is extrapolated.")
    if result.warnings():
        fig.text(0.5, 0.045, f"UNRELIABLE ({unreliable_summary(result)}); every reason is in the printout and "
                 "fit.json.", ha="center", fontsize=8, color="tab:red")
    elif result.caveats():
        named = "; ".join(f"{front.name}: {', '.join(caveats)}" for front, caveats in
                          ((result.base, result.base_caveats), (result.new, result.new_caveats)) if caveats)
        fig.text(0.5, 0.045, f"Caveats ({named}): E at 0 is a pure power law, read inside the measured range; "
                 "a wide parameter's spread is in the interval. Details: printout, fit.json.",
                 ha="center", fontsize=8, color="dimgray")
    fig.text(0.5, 0.005, f"{caveat} Frontier = best learning rate per size, seeds averaged; intervals from a "
             f"residual bootstrap of {len(result.base.labels)} + {len(result.new.labels)} frontier points.", ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.08 if result.warnings() or result.caveats() else 0.04, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
