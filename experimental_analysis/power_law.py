"""Power laws y = k x^exponent, fitted by least squares in log-log space."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import positive_inputs, require_distinct, require_points


@dataclass(frozen=True)
class PowerLaw:
    """y = k x^exponent."""

    k: float
    exponent: float

    def __call__(self, x) -> np.ndarray:
        """y at x."""
        return self.k * np.asarray(x, float) ** self.exponent

    def to_dict(self) -> dict:
        """JSON-ready {k, exponent}."""
        return {"k": self.k, "exponent": self.exponent}


def fit_power_law(x, y, fit: str = "fit_power_law") -> PowerLaw:
    """Least-squares line through (log x, log y); needs 2+ distinct positive x."""
    arrays = positive_inputs(fit, x=x, y=y)
    require_points(fit, len(arrays["x"]), 2, "points")
    require_distinct(fit, "x", arrays["x"], 2)
    slope, intercept = np.polyfit(np.log(arrays["x"]), np.log(arrays["y"]), 1)
    return PowerLaw(k=float(np.exp(intercept)), exponent=float(slope))
