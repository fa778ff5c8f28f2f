"""What Slurm tells a task about itself, and the one thing a task asks of Slurm: requeue me."""
from __future__ import annotations

import os
import re
import subprocess
import time
from typing import Mapping


class RequeueError(RuntimeError):
    """The task could not be requeued (not under Slurm, or scontrol refused)."""


def slurm_job_name(env: Mapping[str, str] = os.environ) -> str:
    """'12_3' for array task 3 of job 12, '12' for a plain job, '-' outside Slurm."""
    if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
        return f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    return env.get("SLURM_JOB_ID", "-")


def requeue_self(env: Mapping[str, str] = os.environ) -> str:
    """``scontrol requeue`` this Slurm task (the array task, not the whole array); returns its id.

    Slurm then ends this process (SIGTERM) and starts the task again later, from the top of
    the batch script, with SLURM_RESTART_COUNT one higher. That SIGTERM goes to every process of
    the job, so it can kill ``scontrol`` itself after the requeue went through: a failed call is
    checked against the task's restart count before it is called a failure.
    """
    job = slurm_job_name(env)
    if job == "-":
        raise RequeueError("not running under Slurm (no SLURM_JOB_ID): nothing to requeue")
    try:
        proc = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, timeout=60)
        failure = None if proc.returncode == 0 else f"exited {proc.returncode}: {proc.stderr.strip()}"
    except (OSError, subprocess.TimeoutExpired) as error:
        failure = f"could not run ({error})"
    if failure is not None and not requeued_since_start(job, env):
        raise RequeueError(f"`scontrol requeue {job}` {failure}")
    return job


def requeued_since_start(job: str, env: Mapping[str, str] = os.environ, tries: int = 5,
                         pause_s: float = 1.0) -> bool:
    """Whether Slurm counts more restarts of ``job`` than this attempt started with (it was requeued).

    Each query is retried: the job's own SIGTERM can kill it too.
    """
    started_with = int(env.get("SLURM_RESTART_COUNT", "0") or 0)
    for attempt in range(tries):
        try:
            proc = subprocess.run(["scontrol", "show", "-o", "job", job], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            proc = None
        match = re.search(r"\bRestarts=(\d+)", proc.stdout) if proc is not None and proc.returncode == 0 else None
        if match:
            return int(match.group(1)) > started_with
        time.sleep(pause_s)
    return False
