"""A run's status from its files alone (no scheduler needed)."""
from __future__ import annotations

from results_layout import done_summary, run_paths

NOT_STARTED, INCOMPLETE = "not started", "incomplete"


def run_status(folder_name: str, label: str) -> str:
    """complete | diverged | incomplete | not started."""
    paths = run_paths(folder_name, label)
    summary = done_summary(paths)
    if summary is not None:
        return summary["status"]
    return INCOMPLETE if paths.csv.exists() or paths.checkpoint.exists() else NOT_STARTED
