"""Input checks shared by the fits: each failure says what is wrong and what is needed."""
from __future__ import annotations

import numpy as np


def as_float_array(fit: str, name: str, values) -> np.ndarray:
    """values as a 1-D float array; raises ValueError naming the fit and argument otherwise."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{fit}: {name} must be one-dimensional (one value per run); got shape {array.shape}")
    return array


def require_finite(fit: str, name: str, array: np.ndarray) -> None:
    """Reject NaN or infinite entries (e.g. a diverged run's loss)."""
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise ValueError(f"{fit}: {name} has {bad.size} NaN/inf value(s) (first at index {bad[0]}); "
                         "drop diverged or unfinished runs before fitting")


def require_positive(fit: str, name: str, array: np.ndarray) -> None:
    """Reject NaN, inf, zero or negative entries: the fits work in log space."""
    require_finite(fit, name, array)
    bad = np.flatnonzero(array <= 0)
    if bad.size:
        raise ValueError(f"{fit}: {name} must be positive (the fit works in log space); "
                         f"got {array[bad[0]]!r} at index {bad[0]}")


def require_same_length(fit: str, **arrays: np.ndarray) -> int:
    """The common length of the arrays; raises if they differ."""
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise ValueError(f"{fit}: inputs must have one value per run, but lengths differ ({listed})")
    return next(iter(lengths.values()))


def require_points(fit: str, n_points: int, minimum: int, what: str = "runs") -> None:
    """Reject fits with fewer than `minimum` points."""
    if n_points < minimum:
        raise ValueError(f"{fit}: needs at least {minimum} {what}, got {n_points}")


def require_distinct(fit: str, name: str, array: np.ndarray, minimum: int) -> None:
    """Reject inputs with fewer than `minimum` distinct values of `name`."""
    n_distinct = len(np.unique(array))
    if n_distinct < minimum:
        raise ValueError(f"{fit}: needs at least {minimum} distinct values of {name}, got {n_distinct}")


def positive_inputs(fit: str, **values) -> dict[str, np.ndarray]:
    """Convert, length-check and positivity-check named 1-D inputs in one go."""
    arrays = {name: as_float_array(fit, name, v) for name, v in values.items()}
    require_same_length(fit, **arrays)
    for name, array in arrays.items():
        require_positive(fit, name, array)
    return arrays
