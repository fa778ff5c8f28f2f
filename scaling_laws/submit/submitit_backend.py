"""Submitting a study through submitit: ``python experiments.py STUDY --submit [--wait]``.

One array (``AutoExecutor.map_array``) of ExperimentTask calls, at most -c/--concurrency at
once, with the resources of submit/resources.py. On timeout or preemption submitit signals the task (USR2,
--grace-s early); our handler only sets the stop flag, training checkpoints at the end of its
step, and then submitit's own handler runs: it calls ``checkpoint()``, which resubmits the same
call, requeues the task and exits. The requeued call resumes from our checkpoint file.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import Optional

import submitit
from submitit.core.utils import UncompletedJobError

from scaling_laws.config import ExperimentConfig
from scaling_laws.results_layout import REPO_ROOT, put_back, results_root, run_paths
from scaling_laws.running.runner import AttemptResult, TrainFn, attempt
from scaling_laws.status import Outcome
from scaling_laws.running.queue import task_comment
from scaling_laws.submit.guard import SubmitError, discard_old_results, one_submission_at_a_time, \
    queue_before_submitting
from scaling_laws.submit.manifest import build_manifest, write_manifest
from scaling_laws.submit.resources import DEFAULT_SUBMITIT_TIME_MIN, Resources, mem_gb, time_minutes
from scaling_laws.submit.selection import describe_counts, held_back, select_runs
from scaling_laws.validate import validate_experiment

POLL_S = 2.0  # --wait: seconds between sacct/squeue checks
LOST_AFTER_S = 30.0  # --wait: a task out of squeue this long without a final sacct record is gone


def preempt_signal() -> int:
    """The signal submitit sends before a time limit or preemption ($SUBMITIT_PREEMPT_SIGNAL, USR2)."""
    return getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"))


class ExperimentTask(submitit.helpers.Checkpointable):
    """Runs one experiment (a dict: what is pickled) in a submitit job; raises if it fails, so
    the task ends FAILED. ``train`` is core.train, pickled by reference."""

    def __init__(self, train: TrainFn):
        self.train = train

    def __call__(self, experiment: dict) -> dict:
        cfg = validate_experiment(experiment)
        signum = preempt_signal()
        submitit_handler = signal.getsignal(signum)

        def hand_over_to_submitit(result: AttemptResult) -> AttemptResult:
            if callable(submitit_handler):  # calls self.checkpoint(), requeues, exits the process
                submitit_handler(signum, None)
            return result

        result = attempt(self.train, cfg, stop_signals=(signum,), after_interrupt=hand_over_to_submitit)
        paths = run_paths(cfg)
        if result.outcome in (Outcome.FAILED, Outcome.REFUSED):
            raise RuntimeError(f"{cfg.label} {result.outcome}: {result.error} (see {paths.log})")
        if result.outcome == Outcome.BUSY:
            raise RuntimeError(f"{cfg.label} not run: another live attempt holds it ({paths.lock})")
        if result.outcome == Outcome.INTERRUPTED:
            raise RuntimeError(f"{cfg.label} was stopped and not requeued; checkpoint {paths.checkpoint}")
        return result.summary

    def checkpoint(self, experiment: dict) -> submitit.helpers.DelayedSubmission:
        # Our checkpoint file holds the training state, so the same call resumes where it stopped.
        return submitit.helpers.DelayedSubmission(self, experiment)


def make_executor(study: str, folder: Path, resources: Resources, count: int, comment: str) -> submitit.AutoExecutor:
    executor = submitit.AutoExecutor(folder=folder / "%j", cluster="slurm")
    optional = {"slurm_partition": resources.partition, "mem_gb": mem_gb(resources.mem) if resources.mem else None,
                "gpus_per_node": resources.gpu_count or None}
    timeout_min = time_minutes(resources.time) if resources.time else DEFAULT_SUBMITIT_TIME_MIN
    executor.update_parameters(
        name=study, timeout_min=timeout_min, cpus_per_task=resources.cpus,
        slurm_array_parallelism=resources.concurrency or count, slurm_signal_delay_s=resources.grace_s,
        slurm_comment=comment,  # names the manifest: how --status and later submissions find these tasks
        # the task unpickles ExperimentTask, so it runs in the repository, with results where ours are
        slurm_setup=[f"cd {shlex.quote(str(REPO_ROOT))}",
                     f"export SCALING_RESULTS_DIR={shlex.quote(str(results_root().resolve()))}"],
        **{key: value for key, value in optional.items() if value is not None})
    return executor


def submit_study(study: str, configs: list[ExperimentConfig], resources: Resources, train: TrainFn,
                 rerun: Optional[str] = None, wait: bool = False) -> int:
    """Submit the runs --rerun selects (as submit_job.sh would) as one array; print the job ids."""
    with one_submission_at_a_time(study, configs[0].folder_name, dry_run=False):
        indices, counts = select_runs(configs, rerun, queue=queue_before_submitting(dry_run=False))
        print(f"{study}: {len(configs)} experiments ({describe_counts(counts)}); "
              f"submitting {len(indices)} through submitit", flush=True)
        for line in held_back(counts, rerun):
            print(line, flush=True)
        if not indices:
            return 0
        chosen = [configs[i] for i in indices]
        moved = discard_old_results([cfg.to_dict() for cfg in chosen]) if rerun == "all" else []
        manifest = write_manifest(build_manifest(study, chosen, indices))  # task i runs chosen[i]: entry i + 0
        folder = results_root() / chosen[0].folder_name / ".submitit"
        executor = make_executor(study, folder, resources, len(chosen), task_comment(manifest, 0))
        try:
            jobs = executor.map_array(ExperimentTask(train), [cfg.to_dict() for cfg in chosen])
        except Exception as error:  # noqa: BLE001 - submitit wraps sbatch's refusal in its own errors
            manifest.unlink(missing_ok=True)
            put_back(moved)
            raise SubmitError(f"submitit could not submit {study}: {error}") from None
    for cfg, job in zip(chosen, jobs):
        print(f"submitted {cfg.folder_name}/{cfg.label} as job {job.job_id}", flush=True)
    return wait_for(jobs, [cfg.label for cfg in chosen]) if wait else 0


# ----------------------------------------------------------------------------- --wait
def _in_queue(job_ids: list[str]) -> set[str]:
    """The ids squeue still lists (array tasks one by one)."""
    proc = subprocess.run(["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(job_ids)], capture_output=True,
                          text=True, timeout=60)
    return set(proc.stdout.split()) if proc.returncode == 0 else set()


def describe(job: submitit.Job) -> tuple[bool, str]:
    """(succeeded, one line) for a finished job."""
    try:
        summary = job.result()
    except UncompletedJobError:  # ended without a result: cancelled, timed out, killed
        return False, job.watcher.get_state(job.job_id, mode="force").split()[0]
    except Exception as error:  # noqa: BLE001 - the task's own exception, re-raised by submitit
        return False, "FAILED: " + str(error).strip().splitlines()[-1]
    return True, f"COMPLETED: {summary['status']} after {summary['optimizer_steps']} steps, loss {summary['final_loss']}"


def wait_for(jobs: list[submitit.Job], labels: list[str], poll_s: float = POLL_S,
             lost_after_s: float = LOST_AFTER_S) -> int:
    """Report each job as it ends; 0 iff all completed. A task cancelled while PENDING leaves no
    record in sacct, so one that is out of squeue for lost_after_s is reported as lost."""
    pending = dict(zip(labels, jobs))
    out_of_queue_since: dict[str, float] = {}
    failures = 0
    while pending:
        jobs[0].watcher.update()  # one sacct call for all of them
        queued = _in_queue([job.job_id for job in pending.values()])
        for label, job in list(pending.items()):
            now = time.monotonic()
            if job.job_id not in queued:
                out_of_queue_since.setdefault(label, now)
            if job.done():
                ok, line = describe(job)
            elif now - out_of_queue_since.get(label, now) > lost_after_s:
                ok, line = False, "LOST: not in squeue and no final record in sacct (cancelled while pending?)"
            else:
                continue
            print(f"{label} (job {job.job_id}): {line}", flush=True)
            failures += not ok
            del pending[label]
        if pending:
            time.sleep(poll_s)
    return 1 if failures else 0
