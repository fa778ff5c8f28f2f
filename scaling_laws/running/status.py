"""A run's status from its files, and from Slurm's queue when it is asked (no sacct needed).

    changed             its results were written under another config than the one asked about
    complete, diverged  the .done marker says so (written last, so it is final)
    running             an attempt's heartbeat is alive (liveness.py), or Slurm runs its task
    queued, requeued    Slurm holds its task pending (requeued: it ran before and was requeued)
    failed              the last attempt stopped on an error: the runner wrote the .failed marker
    incomplete          outputs (CSV, checkpoint) but no live attempt and no task in the queue:
                        interrupted or killed, waiting for a rerun
    not started         no outputs at all
    unreadable          a file of the run cannot be read (the error names it)

The checks run in that order, except that a live attempt outranks "changed" (it is the truth
of what runs now). A file that cannot be read makes the run "unreadable", never an exception:
``--status`` shows every run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from scaling_laws.config import ConfigError, ExperimentConfig
from scaling_laws.results_layout import RunPaths, read_json, read_metrics_rows
from scaling_laws.running.identity import changes_against_results
from scaling_laws.running.liveness import HEARTBEAT_INTERVAL_S, STALE_AFTER_S, is_alive  # noqa: F401 (re-exported)
from scaling_laws.running.progress import eta_s
from scaling_laws.running.queue import QueuedTask, RunKey, run_key
from scaling_laws.status import RunStatus


@dataclass(frozen=True)
class RunState:
    """What the files (and the queue) say about one run."""

    status: RunStatus
    last_step: Optional[int] = None  # optimizer steps in the CSV
    tokens_processed: Optional[int] = None  # tokens of the last CSV row
    loss: Optional[float] = None  # training loss of the last CSV row
    val_loss: Optional[float] = None  # latest validation loss in the CSV
    elapsed_s: Optional[float] = None  # training seconds of the last CSV row
    age_s: Optional[float] = None  # seconds since any file of the run was last written
    error: Optional[str] = None  # why it failed, changed or cannot be read
    heartbeat_age_s: Optional[float] = None  # seconds since the heartbeat was touched (None: no heartbeat)
    heartbeat_host: Optional[str] = None  # the host of the attempt that writes the heartbeat
    eta_s: Optional[float] = None  # running runs: seconds left at their rate so far
    queued: Optional[str] = None  # the Slurm task holding the run, as squeue tells it


class Unreadable(Exception):
    """A file of the run that cannot be read; the message names it."""


def _mtime(path: Path) -> Optional[float]:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


def _read(path: Path) -> Optional[dict]:
    """A JSON file of the run, None if missing; Unreadable naming it if it is not a JSON object."""
    try:
        payload = read_json(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise Unreadable(f"{path} cannot be read ({type(error).__name__}: {error}); remove it or --rerun all") from None
    if not isinstance(payload, dict):
        raise Unreadable(f"{path} does not hold a JSON object; remove it or --rerun all")
    return payload


def _heartbeat(paths: RunPaths, now: float) -> tuple[bool, Optional[float], Optional[str]]:
    """(alive, age in seconds, host) of the run's heartbeat."""
    beat_time = _mtime(paths.heartbeat)
    if beat_time is None:
        return False, None, None
    try:
        beat = _read(paths.heartbeat) or {}
    except Unreadable:  # caught mid-write by a reader on another host: judge by age alone
        beat = {}
    age = now - beat_time
    return is_alive(beat, age), age, beat.get("host")


def _classify(paths: RunPaths, cfg: Optional[ExperimentConfig], alive: bool,
              task: Optional[QueuedTask]) -> tuple[RunStatus, Optional[str]]:
    if alive:
        return RunStatus.RUNNING, None
    try:
        changes = changes_against_results(paths, cfg) if cfg is not None else []
    except ConfigError as error:
        raise Unreadable(str(error)) from None
    if changes:
        return RunStatus.CHANGED, "; ".join(changes)
    summary = _read(paths.done_marker)
    if summary is not None:
        return RunStatus(summary.get("status", RunStatus.COMPLETE)), None
    if task is not None:
        if not task.pending:
            return RunStatus.RUNNING, None  # started, but no heartbeat yet
        return (RunStatus.REQUEUED if task.requeued else RunStatus.QUEUED), None
    failed = _read(paths.failed_marker)
    if failed is not None:
        return RunStatus.FAILED, failed.get("error")
    if paths.csv.exists() or paths.checkpoint.exists():
        return RunStatus.INCOMPLETE, None
    return RunStatus.NOT_STARTED, None


def run_state(paths: RunPaths, now: Optional[float] = None, cfg: Optional[ExperimentConfig] = None,
              queue: Optional[dict[RunKey, QueuedTask]] = None) -> RunState:
    """Status, progress and freshness of one run, from its files and, if given, the queue (queue.queued_runs).

    With ``cfg``, results written under another config are "changed", and a running run gets an ETA.
    """
    now = time.time() if now is None else now
    alive, beat_age, beat_host = _heartbeat(paths, now)
    task = (queue or {}).get(run_key(paths.folder, paths.label))
    written = [t for t in map(_mtime, (paths.csv, paths.log, paths.heartbeat, paths.checkpoint,
                                       paths.done_marker, paths.failed_marker)) if t is not None]
    age = now - max(written) if written else None
    common = dict(age_s=age, heartbeat_age_s=beat_age, heartbeat_host=beat_host,
                  queued=task.describe() if task else None)
    try:
        status, error = _classify(paths, cfg, alive, task)
    except Unreadable as unreadable:
        return RunState(RunStatus.UNREADABLE, error=str(unreadable), **common)
    try:
        last = _last_values(read_metrics_rows(paths.csv))
    except (ValueError, KeyError, TypeError, OSError) as bad:
        return RunState(RunStatus.UNREADABLE, error=f"{paths.csv} cannot be read ({type(bad).__name__}: {bad})",
                        **common)
    eta = None
    if status == RunStatus.RUNNING and cfg is not None and last.get("elapsed_s"):
        eta = eta_s(last["tokens_processed"], cfg.max_tokens_training, last["elapsed_s"])
    return RunState(status, error=error, eta_s=eta, **last, **common)


def _last_values(rows: list[dict]) -> dict:
    """Progress fields of RunState from the CSV rows (empty if there are none)."""
    if not rows:
        return {}
    val_losses = [row["val_loss"] for row in rows if row["val_loss"]]
    return {"last_step": int(rows[-1]["optimizer_step"]), "tokens_processed": int(rows[-1]["tokens_processed"]),
            "loss": float(rows[-1]["loss"]), "val_loss": float(val_losses[-1]) if val_losses else None,
            "elapsed_s": float(rows[-1]["elapsed_s"])}
