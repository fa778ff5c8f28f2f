"""Run experiments of a study here: one (an array task) or all of them, skipping complete runs.

Every attempt first claims its run (claim.py: one attempt per run at a time), then appends its
output to results/<folder>/<label>.log, keeps a heartbeat, and trains with signals turned into a
stop flag (see preemption.py). Every stop is recorded: an error anywhere in the attempt writes
<label>.failed with the reason. A run that cannot go ahead as asked (its results were written
under another config, its data cannot be trained on, a bad checkpoint budget) is refused in one
line, exit code 2; any other error is a bug: its traceback goes to the log, exit code 1. On
SIGUSR1 (Slurm's time-limit warning) the run checkpoints, requeues its Slurm task and exits 0;
the next attempt resumes.
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

from scaling_laws.config import ConfigError, ExperimentConfig, check_safe_name
from scaling_laws.results_layout import RunPaths, atomic_write_json, clear_run, read_json, run_paths, run_paths_for
from scaling_laws.running.claim import ExclusiveLock
from scaling_laws.running.identity import changes_against_results, mismatch_message
from scaling_laws.running.preemption import REQUEUE_SIGNAL, StopSignals
from scaling_laws.running.run_log import Heartbeat, live_attempt_elsewhere, tee_to_log
from scaling_laws.running.slurm_env import RequeueError, requeue_self, slurm_job_name
from scaling_laws.status import Outcome

log = logging.getLogger("scaling")

BUSY_EXIT_CODE = 3  # another live attempt holds this run: this one did nothing
REFUSED_EXIT_CODE = 2  # the run cannot go ahead as asked: the same code as any bad input
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
        if self.outcome == Outcome.REFUSED:
            return REFUSED_EXIT_CODE
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


def record_failure(paths: RunPaths, error: BaseException, with_traceback: bool = True) -> str:
    """Write the .failed marker (read by run_state); returns 'ErrorType: message'."""
    message = f"{type(error).__name__}: {error}"
    atomic_write_json(paths.failed_marker, {
        "error": message, "traceback": traceback.format_exc() if with_traceback else "",
        "host": socket.gethostname(), "slurm_job": slurm_job_name(),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    return message


def record_refusal(experiment: dict, error: Exception) -> None:
    """A run whose config does not validate at run time (its dataset is gone, say): its .failed says why.
    Nothing is written when the experiment's folder and label are not safe names."""
    folder, label = experiment.get("folder_name"), experiment.get("label")
    try:
        check_safe_name("folder_name", folder)
        check_safe_name("label", label)
    except (ConfigError, TypeError):
        return
    record_failure(run_paths_for(folder, label), error, with_traceback=False)


def stopped_by(cfg: ExperimentConfig, paths: RunPaths, error: Exception) -> AttemptResult:
    """Record an error that stopped the attempt: a ConfigError in one line (refused), anything else with
    its traceback in the log (failed)."""
    name = f"{cfg.folder_name}/{cfg.label}"
    if isinstance(error, ConfigError):
        message = record_failure(paths, error, with_traceback=False)
        log.error("%s REFUSED: %s", name, error)
        return AttemptResult(Outcome.REFUSED, error=message)
    message = record_failure(paths, error)
    log.exception("%s FAILED: %s (log: %s)", name, message, paths.log)
    return AttemptResult(Outcome.FAILED, error=message)


def _train_logged(train: TrainFn, cfg: ExperimentConfig, paths: RunPaths, stop: StopSignals) -> AttemptResult:
    """Train; called inside the attempt's log and heartbeat."""
    log.info("run %s/%s -> %s", cfg.folder_name, cfg.label, paths.csv)
    summary = train(cfg, paths, stop_requested=stop)
    if summary["status"] == Outcome.INTERRUPTED:
        name = signal.Signals(stop.received).name if stop.received else "a stop request"
        log.info("%s/%s stopped by %s after %s steps; checkpoint %s", cfg.folder_name, cfg.label, name,
                 summary["optimizer_steps"], paths.checkpoint)
        return AttemptResult(Outcome.INTERRUPTED, summary, signal=stop.received)
    log.info("%s/%s %s after %s steps: loss %s, val_loss %s, %.1f s", cfg.folder_name, cfg.label,
             summary["status"], summary["optimizer_steps"], summary["final_loss"], summary["final_val_loss"],
             summary["elapsed_s"])
    return AttemptResult(Outcome(summary["status"]), summary)


def completed_summary(paths: RunPaths) -> Optional[dict]:
    """The .done marker's summary (None if the run is not finished); ConfigError naming it if unreadable."""
    try:
        summary = read_json(paths.done_marker)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise ConfigError(f"{paths.done_marker} cannot be read ({type(error).__name__}); remove it, or pass "
                          "--rerun all to train the run again") from None
    return summary if isinstance(summary, dict) else {}


def attempt(train: TrainFn, cfg: ExperimentConfig, rerun: bool = False,
            stop_signals: Iterable[int] = STOP_SIGNALS,
            after_interrupt: Optional[Callable[[AttemptResult], AttemptResult]] = None) -> AttemptResult:
    """One attempt at one experiment: claim the run (else BUSY), skip it if complete, refuse it if its
    results belong to another config, else train (resuming from a checkpoint).

    ``after_interrupt`` runs inside the attempt's log when a signal stopped training, e.g. to
    requeue the task; it returns the outcome to report.
    """
    setup_logging()
    paths = run_paths(cfg)
    claim = ExclusiveLock(paths.lock)
    try:
        claimed = claim.acquire()
    except Exception as error:  # noqa: BLE001 - e.g. a file system without locks: recorded, not raised
        return stopped_by(cfg, paths, error)
    if not claimed:
        log.error("not running %s/%s: another attempt holds it (%s) and is alive; this one does nothing",
                  cfg.folder_name, cfg.label, claim.holder() or paths.lock)
        return AttemptResult(Outcome.BUSY)
    try:
        return _attempt_claimed(train, cfg, paths, rerun, stop_signals, after_interrupt)
    finally:
        claim.release()


def _attempt_claimed(train: TrainFn, cfg: ExperimentConfig, paths: RunPaths, rerun: bool,
                     stop_signals: Iterable[int], after_interrupt) -> AttemptResult:
    """The attempt, once it holds the claim."""
    other = live_attempt_elsewhere(paths.heartbeat)
    if other is not None:  # another host whose locks we cannot see (see claim.py): two writers, one CSV
        log.error("not running %s/%s: an attempt on host %s (pid %s, Slurm job %s) touched its heartbeat "
                  "within the last minute; if that host is gone, rerun once %s is a minute old",
                  cfg.folder_name, cfg.label, other.get("host"), other.get("pid"), other.get("slurm_job"),
                  paths.heartbeat)
        return AttemptResult(Outcome.BUSY)
    try:
        if rerun:
            clear_run(paths)
        summary = completed_summary(paths)
        changes = changes_against_results(paths, cfg)
        if summary is not None and not changes:
            log.info("skip %s/%s: already complete (--rerun to train it again)", cfg.folder_name, cfg.label)
            return AttemptResult(Outcome.SKIPPED, summary)
        with tee_to_log(paths.log):
            return _attempt_logged(train, cfg, paths, changes, stop_signals, after_interrupt)
    except Exception as error:  # noqa: BLE001 - every stop is recorded, even before the log is open
        return stopped_by(cfg, paths, error)


def _attempt_logged(train: TrainFn, cfg: ExperimentConfig, paths: RunPaths, changes: list[str],
                    stop_signals: Iterable[int], after_interrupt) -> AttemptResult:
    """Inside the run's log: refuse a changed run, else train with a heartbeat and stop signals."""
    try:
        if changes:
            raise ConfigError(mismatch_message(changes))
        paths.failed_marker.unlink(missing_ok=True)
        with Heartbeat(paths.heartbeat), StopSignals(stop_signals) as stop:
            result = _train_logged(train, cfg, paths, stop)
            if result.outcome == Outcome.INTERRUPTED and after_interrupt is not None:
                result = after_interrupt(result)
        return result
    except Exception as error:  # noqa: BLE001 - any error stops this run, not the caller
        return stopped_by(cfg, paths, error)


def requeue_on_time_limit(result: AttemptResult) -> AttemptResult:
    """After SIGUSR1 (the time-limit warning), requeue this Slurm task; other signals just stop."""
    if result.signal != REQUEUE_SIGNAL:
        return result
    # Said before the call: Slurm's SIGTERM, which follows the requeue, can end this process before it logs again.
    log.info("requeueing Slurm task %s: it resumes from step %s", slurm_job_name(), result.summary["optimizer_steps"])
    try:
        job = requeue_self()
    except RequeueError as error:
        log.error("could not requeue: %s, and Slurm shows no restart of this task; resubmit it (submit_job.sh "
                  "STUDY --rerun failed) to resume from the checkpoint", error)
        return result
    log.info("requeued Slurm task %s: it resumes from step %s", job, result.summary["optimizer_steps"])
    return AttemptResult(Outcome.REQUEUED, result.summary, result.signal)


def run_one(train: TrainFn, cfg: ExperimentConfig, rerun: bool = False) -> int:
    """Train one experiment unless it is already complete; the process exit code."""
    return attempt(train, cfg, rerun=rerun, after_interrupt=requeue_on_time_limit).exit_code


def run_share(train: TrainFn, configs: list[ExperimentConfig], requeue: bool = True) -> int:
    """An array task's share of a study (submit -N), in order; the process exit code.

    Each run skips when complete and resumes from its checkpoint, so a requeued task picks up
    where it stopped. A failed or refused run does not stop the share: at the end the task exits 1
    if a run failed (a bug), else 2 if one was refused (bad data, changed config), else 0 (a run
    another attempt holds counts as done here). A time-limit warning stops it: during a run as in
    run_one; between runs, this task requeues itself. ``requeue=False`` (a packed task's child) only
    stops: the parent requeues the task once every child has checkpointed.
    """
    setup_logging()
    outcomes = []
    with StopSignals(STOP_SIGNALS) as between_runs:  # attempt() installs its own around each run
        for cfg in configs:
            if between_runs():
                return stopped_task(between_runs.received, "between runs", requeue)
            result = attempt(train, cfg, after_interrupt=requeue_on_time_limit if requeue else None)
            if result.outcome in (Outcome.INTERRUPTED, Outcome.REQUEUED):
                return result.exit_code
            outcomes.append(result.outcome)
    return outcomes_exit_code(outcomes)


def stopped_task(signum: int, when: str, requeue: bool = True) -> int:
    """A stop signal that came while no run of this process was training: requeue on SIGUSR1; the exit code."""
    log.info("stopped by %s %s", signal.Signals(signum).name, when)
    if signum != REQUEUE_SIGNAL or not requeue:
        return 128 + signum
    log.info("requeueing Slurm task %s: it resumes its remaining runs", slurm_job_name())  # before Slurm's SIGTERM
    try:
        log.info("requeued Slurm task %s", requeue_self())
    except RequeueError as error:
        log.error("could not requeue: %s; rerun the task to run the rest of its share", error)
        return 128 + signum
    return 0


def run_all(train: TrainFn, configs: list[ExperimentConfig], rerun: bool = False) -> int:
    """Run every experiment in order; after trying all, 1 if any failed, else 2 if any was refused; the
    signal's code at a stop signal."""
    outcomes = []
    for cfg in configs:
        result = attempt(train, cfg, rerun=rerun)
        if result.outcome == Outcome.INTERRUPTED:
            return result.exit_code
        outcomes.append(result.outcome)
    return outcomes_exit_code(outcomes)


def outcomes_exit_code(outcomes: list[Outcome]) -> int:
    """After several runs: 1 if any failed (a bug), else 2 if any was refused, else 0."""
    if Outcome.FAILED in outcomes:
        return 1
    return REFUSED_EXIT_CODE if Outcome.REFUSED in outcomes else 0
