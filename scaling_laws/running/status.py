"""A run's status from its files alone (no scheduler, no sacct needed).

    complete, diverged  the .done marker says so (written last, so it is final)
    running             the heartbeat was touched within STALE_AFTER_S (an attempt is alive)
    failed              the last attempt raised: the runner wrote the .failed marker
    incomplete          outputs (CSV, checkpoint) but no live attempt: interrupted, killed or
                        waiting in the queue to resume
    not started         no outputs at all

The checks run in that order: a live heartbeat outranks an old .failed marker, but the runner
removes the marker when an attempt starts anyway.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from scaling_laws.results_layout import RunPaths, done_summary, read_json, read_metrics_rows
from scaling_laws.status import RunStatus

HEARTBEAT_INTERVAL_S = 15.0  # how often a live attempt touches its heartbeat
STALE_AFTER_S = 4 * HEARTBEAT_INTERVAL_S  # an older heartbeat belongs to an attempt that died uncleanly


@dataclass(frozen=True)
class RunState:
    """What the files of one run say about it."""

    status: RunStatus
    last_step: Optional[int] = None  # optimizer steps in the CSV
    tokens_processed: Optional[int] = None  # tokens of the last CSV row
    loss: Optional[float] = None  # training loss of the last CSV row
    val_loss: Optional[float] = None  # latest validation loss in the CSV
    age_s: Optional[float] = None  # seconds since any file of the run was last written
    error: Optional[str] = None  # "ErrorType: message" of a failed run


def _mtime(path: Path) -> Optional[float]:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


def _classify(paths: RunPaths, now: float) -> tuple[RunStatus, Optional[str]]:
    summary = done_summary(paths)
    if summary is not None:
        return RunStatus(summary["status"]), None
    beat = _mtime(paths.heartbeat)
    if beat is not None and now - beat < STALE_AFTER_S:
        return RunStatus.RUNNING, None
    if paths.failed_marker.exists():
        return RunStatus.FAILED, read_json(paths.failed_marker).get("error")
    if paths.csv.exists() or paths.checkpoint.exists():
        return RunStatus.INCOMPLETE, None
    return RunStatus.NOT_STARTED, None


def run_state(paths: RunPaths, now: Optional[float] = None) -> RunState:
    """Status, progress and freshness of one run, read from its files."""
    now = time.time() if now is None else now
    status, error = _classify(paths, now)
    rows = read_metrics_rows(paths.csv)
    written = [t for t in map(_mtime, (paths.csv, paths.log, paths.heartbeat, paths.checkpoint,
                                       paths.done_marker, paths.failed_marker)) if t is not None]
    if not rows:
        return RunState(status, age_s=now - max(written) if written else None, error=error)
    val_losses = [row["val_loss"] for row in rows if row["val_loss"]]
    return RunState(status, last_step=int(rows[-1]["optimizer_step"]),
                    tokens_processed=int(rows[-1]["tokens_processed"]), loss=float(rows[-1]["loss"]),
                    val_loss=float(val_losses[-1]) if val_losses else None, age_s=now - max(written), error=error)
