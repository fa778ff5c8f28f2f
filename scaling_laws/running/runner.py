"""Run experiments of a study here: one (an array task) or all of them, skipping complete runs.

Every attempt appends its output to results/<folder>/<label>.log, keeps a heartbeat, and trains
with signals turned into a stop flag (see preemption.py). If training raises, the attempt writes
<label>.failed (error and traceback) and fails with exit code 1. On SIGUSR1 (Slurm's time-limit
warning) the run checkpoints, requeues its Slurm task and exits 0; the next attempt resumes.
"""
from __future__ import annotations

import logging
import signal
import socket
import sys
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable, Optional

from scaling_laws.config import ExperimentConfig
from scaling_laws.results_layout import RunPaths, atomic_write_json, clear_run, done_summary, is_complete, run_paths
from scaling_laws.running.preemption import REQUEUE_SIGNAL, StopSignals
from scaling_laws.running.run_log import Heartbeat, live_attempt_elsewhere, tee_to_log
from scaling_laws.running.slurm_env import RequeueError, requeue_self, slurm_job_name
from scaling_laws.status import Outcome

log = logging.getLogger("scaling")

BUSY_EXIT_CODE = 3  # another live attempt holds this run: this one did nothing
STOP_SIGNALS = (REQUEUE_SIGNAL, signal.SIGTERM)
# core.train(cfg, paths, stop_requested=...) -> summary. The caller passes it in: the training loop
# is the root module core.py, above this package.
TrainFn = Callable[..., dict]


@dataclass(frozen=True)
class AttemptResult:
    """How one attempt at one experiment ended, and what it left."""

    outcome: Outcome
    summary: Optional[dict] = None  # train()'s summary (None if skipped before training or failed)
    signal: Optional[int] = None  # the signal that interrupted training
    error: Optional[str] = None  # "ErrorType: message" of a failure

    @property
    def exit_code(self) -> int:
        """0 when nothing is left to do here; 1 on failure; 128 + signal when stopped and not requeued."""
        if self.outcome == Outcome.FAILED:
            return 1
        if self.outcome == Outcome.BUSY:
            return BUSY_EXIT_CODE
        if self.outcome == Outcome.INTERRUPTED:
            return 128 + (self.signal or 0)
        return 0


class _CurrentStdout:
    """Log to whatever sys.stdout is at the moment, so output follows tee_to_log in and out."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=_CurrentStdout(), format="%(asctime)s %(message)s",
                        datefmt="%H:%M:%S", force=True)


def record_failure(paths: RunPaths, error: BaseException) -> str:
    """Write the .failed marker (read by run_status); returns 'ErrorType: message'."""
    message = f"{type(error).__name__}: {error}"
    atomic_write_json(paths.failed_marker, {
        "error": message, "traceback": traceback.format_exc(), "host": socket.gethostname(),
        "slurm_job": slurm_job_name(), "time": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    return message


def _train_logged(train: TrainFn, cfg: ExperimentConfig, paths: RunPaths, stop: StopSignals) -> AttemptResult:
    """Train with failures recorded; called inside the attempt's log and heartbeat."""
    paths.failed_marker.unlink(missing_ok=True)
    log.info("run %s/%s -> %s", cfg.folder_name, cfg.label, paths.csv)
    try:
        summary = train(cfg, paths, stop_requested=stop)
    except Exception as error:  # noqa: BLE001 - any training error fails this run, not the caller
        message = record_failure(paths, error)
        log.exception("%s/%s FAILED: %s (log: %s)", cfg.folder_name, cfg.label, message, paths.log)
        return AttemptResult(Outcome.FAILED, error=message)
    if summary["status"] == Outcome.INTERRUPTED:
        name = signal.Signals(stop.received).name
        log.info("%s/%s stopped by %s after %s steps; checkpoint %s", cfg.folder_name, cfg.label, name,
                 summary["optimizer_steps"], paths.checkpoint)
        return AttemptResult(Outcome.INTERRUPTED, summary, signal=stop.received)
    log.info("%s/%s %s after %s steps: loss %s, val_loss %s, %.1f s", cfg.folder_name, cfg.label,
             summary["status"], summary["optimizer_steps"], summary["final_loss"], summary["final_val_loss"],
             summary["elapsed_s"])
    return AttemptResult(Outcome(summary["status"]), summary)


def attempt(train: TrainFn, cfg: ExperimentConfig, rerun: bool = False,
            stop_signals: Iterable[int] = STOP_SIGNALS,
            after_interrupt: Optional[Callable[[AttemptResult], AttemptResult]] = None) -> AttemptResult:
    """One attempt at one experiment: skip if complete or held by another live attempt, else
    train (resuming from a checkpoint).

    ``after_interrupt`` runs inside the attempt's log when a signal stopped training, e.g. to
    requeue the task; it returns the outcome to report.
    """
    setup_logging()
    paths = run_paths(cfg)
    if is_complete(paths) and not rerun:
        log.info("skip %s/%s: already complete (--rerun to train it again)", cfg.folder_name, cfg.label)
        return AttemptResult(Outcome.SKIPPED, done_summary(paths))
    other = live_attempt_elsewhere(paths.heartbeat)
    if other is not None:  # two writers would interleave one CSV
        log.error("not running %s/%s: another attempt is alive (%s); wait for it, or delete %s if it is gone",
                  cfg.folder_name, cfg.label, other, paths.heartbeat)
        return AttemptResult(Outcome.BUSY)
    if rerun:
        clear_run(paths)
    with tee_to_log(paths.log), Heartbeat(paths.heartbeat), StopSignals(stop_signals) as stop:
        result = _train_logged(train, cfg, paths, stop)
        if result.outcome == Outcome.INTERRUPTED and after_interrupt is not None:
            result = after_interrupt(result)
    return result


def requeue_on_time_limit(result: AttemptResult) -> AttemptResult:
    """After SIGUSR1 (the time-limit warning), requeue this Slurm task; other signals just stop."""
    if result.signal != REQUEUE_SIGNAL:
        return result
    try:
        job = requeue_self()
    except RequeueError as error:
        log.error("could not requeue: %s; rerun the task to resume from the checkpoint", error)
        return result
    log.info("requeued Slurm task %s: it resumes from step %s", job, result.summary["optimizer_steps"])
    return AttemptResult(Outcome.REQUEUED, result.summary, result.signal)


def run_one(train: TrainFn, cfg: ExperimentConfig, rerun: bool = False) -> int:
    """Train one experiment unless it is already complete; the process exit code."""
    return attempt(train, cfg, rerun=rerun, after_interrupt=requeue_on_time_limit).exit_code


def run_share(train: TrainFn, configs: list[ExperimentConfig]) -> int:
    """An array task's share of a study (submit -N), in order; the process exit code.

    Each run skips when complete and resumes from its checkpoint, so a requeued task picks up
    where it stopped. A failed run does not stop the share (exit 1 at the end). A time-limit
    warning stops it: during a run as in run_one; between runs, this task requeues itself.
    """
    setup_logging()
    failures = 0
    with StopSignals(STOP_SIGNALS) as between_runs:  # attempt() installs its own around each run
        for cfg in configs:
            if between_runs():
                return stopped_between_runs(between_runs.received)
            result = attempt(train, cfg, after_interrupt=requeue_on_time_limit)
            if result.outcome in (Outcome.INTERRUPTED, Outcome.REQUEUED):
                return result.exit_code
            failures += result.outcome == Outcome.FAILED
    return 1 if failures else 0


def stopped_between_runs(signum: int) -> int:
    """A stop signal that came while no run was training: requeue on SIGUSR1; the exit code."""
    log.info("stopped by %s between runs", signal.Signals(signum).name)
    if signum != REQUEUE_SIGNAL:
        return 128 + signum
    try:
        log.info("requeued Slurm task %s: it resumes its remaining runs", requeue_self())
    except RequeueError as error:
        log.error("could not requeue: %s; rerun the task to run the rest of its share", error)
        return 128 + signum
    return 0


def run_all(train: TrainFn, configs: list[ExperimentConfig], rerun: bool = False) -> int:
    """Run every experiment in order; non-zero if any failed (after trying all), or at a stop signal."""
    failures = 0
    for cfg in configs:
        result = attempt(train, cfg, rerun=rerun)
        if result.outcome == Outcome.INTERRUPTED:
            return result.exit_code
        failures += result.outcome == Outcome.FAILED
    return 1 if failures else 0
