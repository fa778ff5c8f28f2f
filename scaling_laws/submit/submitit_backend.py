"""Submitting a study through submitit: ``python experiments.py STUDY --submit [-N] [--wait]``.

One array (``AutoExecutor.map_array``) of ShareTask calls, at most -c/--concurrency at once,
with the resources of submit/resources.py. Each call runs a share of the experiments in turn:
one experiment per task by default, experiments t, t+N, ... with -N. On timeout or preemption
submitit signals the task (USR2, --grace-s early); our handler only sets the stop flag,
training checkpoints at the end of its step, and then submitit's own handler runs: it calls
``checkpoint()``, which resubmits the same call, requeues the task and exits. The requeued
call skips the share's complete runs and resumes the interrupted one from our checkpoint file.
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

from scaling_laws.config import ConfigError, ExperimentConfig
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


class ShareTask(submitit.helpers.Checkpointable):
    """Runs a share of the experiments (dicts: what is pickled) in turn in a submitit job; raises
    at the end if any failed, so the task ends FAILED. ``train`` is core.train, pickled by reference."""

    def __init__(self, train: TrainFn):
        self.train = train

    def __call__(self, experiments: list[dict]) -> list[dict]:
        signum = preempt_signal()
        submitit_handler = signal.getsignal(signum)

        def hand_over_to_submitit(result: AttemptResult) -> AttemptResult:
            if callable(submitit_handler):  # calls self.checkpoint(), requeues, exits the process
                submitit_handler(signum, None)
            return result

        summaries, failures = [], []
        for cfg in map(validate_experiment, experiments):
            result = attempt(self.train, cfg, stop_signals=(signum,), after_interrupt=hand_over_to_submitit)
            paths = run_paths(cfg)
            if result.outcome == Outcome.INTERRUPTED:
                raise RuntimeError(f"{cfg.label} was stopped and not requeued; checkpoint {paths.checkpoint}")
            if result.outcome in (Outcome.FAILED, Outcome.REFUSED):
                failures.append(f"{cfg.label} {result.outcome}: {result.error} (see {paths.log})")
            elif result.outcome == Outcome.BUSY:
                failures.append(f"{cfg.label} not run: another live attempt holds it ({paths.lock})")
            else:
                summaries.append({"label": cfg.label, **(result.summary or {"status": result.outcome})})
        if failures:
            raise RuntimeError("; ".join(failures))
        return summaries

    def checkpoint(self, experiments: list[dict]) -> submitit.helpers.DelayedSubmission:
        # Our checkpoint files hold the training state, so the same call resumes where it stopped.
        return submitit.helpers.DelayedSubmission(self, experiments)


def make_executor(study: str, folder: Path, resources: Resources, count: int, comment: str) -> submitit.AutoExecutor:
    executor = submitit.AutoExecutor(folder=folder / "%j", cluster="slurm")
    optional = {"slurm_partition": resources.partition, "mem_gb": mem_gb(resources.mem) if resources.mem else None,
                "gpus_per_node": resources.gpu_count or None}
    timeout_min = time_minutes(resources.time) if resources.time else DEFAULT_SUBMITIT_TIME_MIN
    executor.update_parameters(
        name=study, timeout_min=timeout_min, cpus_per_task=resources.cpus,
        slurm_array_parallelism=resources.concurrency or count, slurm_signal_delay_s=resources.grace_s,
        slurm_comment=comment,  # names the manifest: how --status and later submissions find these tasks
        # the task unpickles ShareTask, so it runs in the repository, with results where ours are
        slurm_setup=[f"cd {shlex.quote(str(REPO_ROOT))}",
                     f"export SCALING_RESULTS_DIR={shlex.quote(str(results_root().resolve()))}"],
        **{key: value for key, value in optional.items() if value is not None})
    return executor


def submit_study(study: str, configs: list[ExperimentConfig], resources: Resources, train: TrainFn,
                 rerun: Optional[str] = None, wait: bool = False, tasks: Optional[int] = None) -> int:
    """Submit the runs --rerun selects (as submit_job.sh would) as one array of shares (-N
    tasks, or one per run); print the job ids."""
    if resources.per_gpu > 1:
        raise ConfigError(f"--per-gpu {resources.per_gpu} (packing a task's runs) is submit_job.sh's: use "
                          f"bash submit_job.sh -N {study} --per-gpu {resources.per_gpu}; submitit runs a share in turn")
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
        manifest = build_manifest(study, chosen, indices, tasks=tasks)  # array task i runs manifest task i
        path = write_manifest(manifest)
        shares = [[chosen[entry] for entry in entries] for entries in manifest["tasks"]]
        folder = results_root() / chosen[0].folder_name / ".submitit"
        resources = resources.for_runs(cfg.architecture for cfg in chosen)
        executor = make_executor(study, folder, resources, len(shares), task_comment(path, 0))
        try:
            jobs = executor.map_array(ShareTask(train), [[cfg.to_dict() for cfg in share] for share in shares])
        except Exception as error:  # noqa: BLE001 - submitit wraps sbatch's refusal in its own errors
            path.unlink(missing_ok=True)
            put_back(moved)
            raise SubmitError(f"submitit could not submit {study}: {error}") from None
    names = [",".join(cfg.label for cfg in share) for share in shares]
    for share, name, job in zip(shares, names, jobs):
        print(f"submitted {share[0].folder_name}/{name} as job {job.job_id}", flush=True)
    return wait_for(jobs, names) if wait else 0


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
    return True, "COMPLETED: " + "; ".join(_summary_line(run, len(summary) > 1) for run in summary)


def _summary_line(run: dict, named: bool) -> str:
    line = f"{run['status']} after {run.get('optimizer_steps')} steps, loss {run.get('final_loss')}"
    return f"{run['label']} {line}" if named else line


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
