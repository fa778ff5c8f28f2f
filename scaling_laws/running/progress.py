"""How far a run is and when it will finish: the words of the step log lines and of --status."""
from __future__ import annotations

from typing import Optional


def format_duration(seconds: Optional[float]) -> str:
    """'45s', '3.2m', '1.5h', '2.1d'; '-' for unknown."""
    if seconds is None:
        return "-"
    for unit, scale in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= scale:
            return f"{seconds / scale:.1f}{unit}"
    return f"{seconds:.0f}s"


def eta_s(done: float, total: float, elapsed_s: float) -> Optional[float]:
    """Seconds left at the average rate so far (``done`` of ``total`` units in ``elapsed_s``); None before any."""
    if done <= 0 or elapsed_s <= 0:
        return None
    return max(0.0, total - done) * elapsed_s / done


def progress_text(done: int, total: int, elapsed_s: float) -> str:
    """'12% ETA 3.2m' for a step log line."""
    return f"{done / total:.0%} ETA {format_duration(eta_s(done, total, elapsed_s))}"
