"""The words a run's state is told in: one enum for a run's status, one for how an attempt ended."""
from __future__ import annotations

from enum import Enum


class RunStatus(str, Enum):
    """A run's status as its files, and Slurm's queue when asked, tell it (``experiments.py --status``)."""

    COMPLETE = "complete"  # the .done marker says it trained to its token budget
    DIVERGED = "diverged"  # the .done marker says it stopped at a non-finite loss
    CHANGED = "changed"  # its results were written under another config: a new label, or --rerun all
    RUNNING = "running"  # an attempt's heartbeat is alive, or Slurm runs its task
    QUEUED = "queued"  # Slurm holds its task pending
    REQUEUED = "requeued"  # Slurm holds its task pending again after a requeue (preemption, time limit)
    FAILED = "failed"  # the last attempt stopped on an error: the .failed marker holds it
    INCOMPLETE = "incomplete"  # outputs but no live attempt and no queued task: interrupted or killed
    NOT_STARTED = "not started"  # no outputs at all
    UNREADABLE = "unreadable"  # a file of the run cannot be read

    def __str__(self) -> str:
        return self.value


class Outcome(str, Enum):
    """How one attempt at one run ended (``core.train`` returns the first three)."""

    COMPLETE = "complete"  # trained to the token budget; .done written
    DIVERGED = "diverged"  # stopped at a non-finite loss; .done written
    INTERRUPTED = "interrupted"  # stopped on a signal after a checkpoint; no marker
    SKIPPED = "skipped"  # already complete: nothing to do
    REQUEUED = "requeued"  # interrupted, and the Slurm task requeued itself to resume
    FAILED = "failed"  # training raised; .failed written
    REFUSED = "refused"  # the run cannot go ahead as asked (config changed, bad data); .failed written
    BUSY = "busy"  # another live attempt holds the run: this one did nothing

    def __str__(self) -> str:
        return self.value


FINISHED = frozenset({RunStatus.COMPLETE, RunStatus.DIVERGED})  # final: never resubmitted unless asked
IN_QUEUE = frozenset({RunStatus.RUNNING, RunStatus.QUEUED, RunStatus.REQUEUED})  # never resubmitted
