"""The fit target, defined once: a run's final loss, and when a run counts as diverged.

Final loss = the value of the column in the last row that has one: for ``loss`` (logged every
step) the last step; for ``val_loss`` (logged on eval steps only, and always at the last step)
the last evaluation. No window: validation is written only every ``eval_interval`` steps, so
a mean of the last few values reaches back across eval intervals into the decay phase and
biases small runs upwards (issue 13: +0.108 nats for DEMO d16, mean of steps 50, 100, 112).

Diverged = the final value is not finite, or exceeds DIVERGENCE_RATIO x the lowest value the
same column reached earlier in the run: a loss that blew up but stayed finite.
"""
from __future__ import annotations

import math
from typing import Iterable, Optional

RULE = "value at the last logged step (val_loss: the last evaluation)"
DIVERGENCE_RATIO = 1.2  # final > 1.2 x the run's own best value of that column: diverged


def logged_values(cells: Iterable[Optional[str]]) -> list[float]:
    """The non-empty cells of one CSV column, as floats, in step order."""
    return [float(c) for c in cells if c not in ("", None)]


def final_loss(cells: Iterable[Optional[str]]) -> float:
    """The column's value at the last step that logged it; NaN when it was never logged."""
    values = logged_values(cells)
    return values[-1] if values else float("nan")


def best_loss(cells: Iterable[Optional[str]]) -> float:
    """The lowest finite value the column reached; NaN when there is none."""
    finite = [v for v in logged_values(cells) if math.isfinite(v)]
    return min(finite) if finite else float("nan")


def divergence_reason(final: float, best: float, column: str) -> str:
    """Why a run counts as diverged under the rule above, or '' when it does not."""
    if not math.isfinite(final):
        return f"diverged: final {column} is {final}"
    if math.isfinite(best) and final > DIVERGENCE_RATIO * best:
        return (f"diverged: final {column} {final:.4g} > {DIVERGENCE_RATIO:g} x its best {best:.4g} "
                f"(ratio {final / best:.2f})")
    return ""
