"""Which runs of a study a submission takes, from their files and Slurm's queue: the rule both backends share."""
from __future__ import annotations

from typing import Optional

from scaling_laws.config import ExperimentConfig
from scaling_laws.results_layout import run_paths
from scaling_laws.running.queue import QueuedTask, RunKey
from scaling_laws.running.status import run_state
from scaling_laws.status import FINISHED, IN_QUEUE, RunStatus

NEEDS_RERUN_ALL = frozenset({RunStatus.CHANGED, RunStatus.UNREADABLE})  # their files must be discarded first


def wanted(status: RunStatus, rerun: Optional[str]) -> bool:
    """Should a run in this status be submitted? Never one that runs or waits in the queue (two attempts, one run)."""
    if status in IN_QUEUE:
        return False
    if rerun == "all":
        return True
    if status in NEEDS_RERUN_ALL:
        return False
    if rerun == "failed":
        return status in (RunStatus.FAILED, RunStatus.INCOMPLETE, RunStatus.NOT_STARTED)
    return status not in FINISHED


def select_runs(configs: list[ExperimentConfig], rerun: Optional[str], first: Optional[int] = None,
                queue: Optional[dict[RunKey, QueuedTask]] = None) -> tuple[list[int], dict[RunStatus, int]]:
    """Indices (into the study) to submit, and how many runs of each status were considered."""
    counts: dict[RunStatus, int] = {}
    chosen = []
    for index, cfg in enumerate(configs[:first]):
        status = run_state(run_paths(cfg), cfg=cfg, queue=queue).status
        counts[status] = counts.get(status, 0) + 1
        if wanted(status, rerun):
            chosen.append(index)
    return chosen, counts


def describe_counts(counts: dict[RunStatus, int]) -> str:
    """'2 complete, 4 not started', in status order."""
    return ", ".join(f"{counts[status]} {status}" for status in RunStatus if status in counts)


def task_shares(count: int, tasks: Optional[int] = None) -> list[list[int]]:
    """Which of ``count`` experiments each array task runs: task t takes t, t+N, t+2N, ... for
    ``tasks`` = N (the original tool's -N), one experiment per task when ``tasks`` is None.
    Never more tasks than experiments: an empty task would only wait in the queue."""
    tasks = count if tasks is None else min(tasks, count)
    return [list(range(task, count, tasks)) for task in range(tasks)]


def held_back(counts: dict[RunStatus, int], rerun: Optional[str]) -> list[str]:
    """Lines saying which considered runs are not submitted because of the queue or changed files."""
    lines = []
    in_queue = {status: n for status, n in counts.items() if status in IN_QUEUE}
    if in_queue:
        lines.append(f"not submitting {describe_counts(in_queue)} run(s): Slurm holds their tasks or their "
                     "attempt is alive (--status shows them)")
    stale = {status: n for status, n in counts.items() if status in NEEDS_RERUN_ALL}
    if stale and rerun != "all":
        lines.append(f"not submitting {describe_counts(stale)} run(s): their files belong to another config or "
                     "cannot be read (--status says which); give them new labels, or --rerun all")
    return lines
