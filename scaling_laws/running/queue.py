"""What Slurm's queue says about our runs: which are pending, requeued or running there.

Every array we submit (sbatch or submitit) carries a job comment naming its frozen manifest and
index offset, ``scaling_laws:manifest=<path>:offset=<k>``. One ``squeue`` call lists every pending
or running array task with its comment, state, reason and restart count; the manifest then says
which run each task holds. squeue lists every task still pending or running (sacct is not
needed for that, and lags behind the controller).
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from scaling_laws.results_layout import read_json

COMMENT = re.compile(r"^scaling_laws:manifest=(?P<manifest>.+):offset=(?P<offset>\d+)$")
SQUEUE_FIELDS = ("ArrayJobID", "ArrayTaskID", "State", "Reason", "RestartCnt", "Comment")  # Comment last: free text
PENDING_STATES = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SUSPENDED", "RESV_DEL_HOLD"})
RunKey = tuple[str, str]  # (study folder path, label)


class QueueUnavailable(RuntimeError):
    """squeue could not be asked (no Slurm here, or the controller does not answer)."""


def task_comment(manifest: Path, offset: int) -> str:
    """The job comment of an array whose task i runs manifest entry i + offset."""
    return f"scaling_laws:manifest={Path(manifest).resolve()}:offset={offset}"


def task_entries(task_id: int, offset: int, tasks: Optional[list[list[int]]] = None) -> list[int]:
    """Manifest entries array task ``task_id`` runs: the share of manifest task task_id + offset (``tasks``,
    the manifest's list), or entry task_id + offset for a manifest of one entry per task."""
    index = task_id + offset
    if tasks is None:
        return [index]
    return tasks[index] if index < len(tasks) else []


@dataclass(frozen=True)
class QueuedTask:
    """One array task that squeue lists."""

    job: str  # "12_3"
    state: str  # squeue's State: PENDING, RUNNING, COMPLETING, ...
    reason: str  # squeue's Reason: BeginTime, Priority, JobHeldUser, None, ...
    restarts: int  # times Slurm has requeued it

    @property
    def pending(self) -> bool:
        return self.state in PENDING_STATES

    @property
    def requeued(self) -> bool:
        return self.pending and (self.restarts > 0 or self.state.startswith("REQUEUE"))

    def describe(self) -> str:
        return f"job {self.job} {self.state.lower()}" + (f" ({self.reason})" if self.reason not in ("", "None") else "")


def run_key(folder: Path, label: str) -> RunKey:
    return str(Path(folder).resolve()), label


def squeue_lines() -> list[str]:
    """squeue's lines for every pending or running array task, one per task, fields split on '|'."""
    cmd = ["squeue", "-h", "-r", "-O", ",".join(f"{field}:|" for field in SQUEUE_FIELDS)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise QueueUnavailable("squeue is not on PATH (no Slurm here?)") from None
    except (OSError, subprocess.TimeoutExpired) as error:
        raise QueueUnavailable(f"`squeue` could not run ({error})") from None
    if proc.returncode != 0:
        raise QueueUnavailable(f"`squeue` exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout.splitlines()


def queued_runs(lines: Optional[list[str]] = None) -> dict[RunKey, QueuedTask]:
    """The runs our pending or running tasks hold, keyed by (study folder, label); asks squeue unless given its lines."""
    found: dict[RunKey, QueuedTask] = {}
    manifests: dict[str, tuple] = {}
    for line in squeue_lines() if lines is None else lines:
        parts = line.rstrip("|").split("|", len(SQUEUE_FIELDS) - 1)
        if len(parts) != len(SQUEUE_FIELDS) or not parts[1].isdigit():
            continue
        job_id, task_id, state, reason, restarts, comment = parts
        match = COMMENT.match(comment.strip())
        if not match:
            continue  # not one of ours
        experiments, tasks = manifests.setdefault(match["manifest"], _manifest_contents(match["manifest"]))
        task = QueuedTask(f"{job_id}_{task_id}", state, reason, int(restarts) if restarts.isdigit() else 0)
        for entry in task_entries(int(task_id), int(match["offset"]), tasks):
            if experiments is not None and entry < len(experiments):
                exp = experiments[entry]
                found[run_key(Path(match["manifest"]).parents[2] / exp["folder_name"], exp["label"])] = task
    return found


def _manifest_contents(path: str) -> tuple[Optional[list], Optional[list]]:
    """A manifest's experiments and task shares (results/<folder>/.manifests/<file>); None if gone or unreadable."""
    try:
        manifest = read_json(Path(path))
        return manifest["experiments"], manifest.get("tasks")
    except (OSError, ValueError, KeyError, TypeError):
        return None, None


def queue_snapshot() -> tuple[dict[RunKey, QueuedTask], Optional[str]]:
    """The runs our queued tasks hold, and a note when squeue could not be asked (then no runs)."""
    try:
        return queued_runs(), None
    except QueueUnavailable as error:
        return {}, f"queue not checked: {error}"
