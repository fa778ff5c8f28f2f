"""What Slurm tells a task about itself, and the one thing a task asks of Slurm: requeue me."""
from __future__ import annotations

import os
import subprocess
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
    the batch script, with SLURM_RESTART_COUNT one higher.
    """
    job = slurm_job_name(env)
    if job == "-":
        raise RequeueError("not running under Slurm (no SLURM_JOB_ID): nothing to requeue")
    proc = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RequeueError(f"`scontrol requeue {job}` exited {proc.returncode}: {proc.stderr.strip()}")
    return job
