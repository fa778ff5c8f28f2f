"""What every submission does before it picks runs: hold the study's submit lock, then read the queue.

The lock (results/<folder>/.manifests/.submit-<study>.lock, an flock: see running/claim.py) makes
a second concurrent submission of the same study wait for the first and then pick its runs
afresh, so it sees the first one's tasks in the queue and does not submit them again. The
queue (running/queue.py) tells which runs Slurm already holds, pending, requeued or running.
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from scaling_laws.results_layout import results_root, run_paths_for, set_aside
from scaling_laws.running.claim import ExclusiveLock
from scaling_laws.running.queue import QueuedTask, RunKey, queue_snapshot
from scaling_laws.submit.manifest import MANIFESTS_DIR


DISCARDED_DIR = ".discarded"


class SubmitError(RuntimeError):
    """sbatch, squeue or scontrol failed; the message has their stderr."""


@contextmanager
def one_submission_at_a_time(study: str, folder: str, dry_run: bool) -> Iterator[None]:
    """Hold the study's submit lock (a dry run writes nothing, so it takes none)."""
    if dry_run:
        yield
        return
    lock = ExclusiveLock(results_root() / folder / MANIFESTS_DIR / f".submit-{study}.lock")
    waited = []

    def say_waiting(holder: str) -> None:
        waited.append(holder)
        print(f"another submission of {study} is in progress ({holder or 'holder unknown'}); waiting for it "
              "to finish, then picking runs again", flush=True)

    lock.acquire(on_wait=say_waiting)
    if waited:
        print(f"the other submission of {study} finished; its tasks are in the queue and are not submitted "
              "again", flush=True)
    try:
        yield
    finally:
        lock.release()


def queue_before_submitting(dry_run: bool) -> dict[RunKey, QueuedTask]:
    """Our runs in Slurm's queue. A real submission that cannot see the queue refuses: it could
    submit runs that are already queued; a dry run says so and goes on."""
    queue, note = queue_snapshot()
    if note and not dry_run:
        raise SubmitError(f"{note}; not submitting, since runs already queued would be submitted twice")
    if note:
        print(f"note: {note}; a real submission would refuse")
    return queue


def discard_old_results(experiments: list[dict]) -> list[tuple[Path, Path]]:
    """--rerun all: move the runs' old results to results/<folder>/.discarded/<UTC time>/ before submitting
    (kept, not deleted); returns the moves, undone with results_layout.put_back if submitting fails."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    moves = []
    for exp in experiments:
        paths = run_paths_for(exp["folder_name"], exp["label"])
        moves += set_aside(paths, paths.folder / DISCARDED_DIR / stamp)
    if moves:
        print(f"--rerun all: moved {len(moves)} old result files to .discarded/{stamp}/ in their study folders")
    return moves
