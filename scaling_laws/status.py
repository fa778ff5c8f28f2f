"""The words a run's state is told in: one enum for a run's status, one for how an attempt ended."""
from __future__ import annotations

from enum import Enum


class RunStatus(str, Enum):
    """A run's status as its files tell it (``experiments.py --status``)."""

    COMPLETE = "complete"  # the .done marker says it trained to its token budget
    DIVERGED = "diverged"  # the .done marker says it stopped at a non-finite loss
    RUNNING = "running"  # an attempt's heartbeat is fresh
    FAILED = "failed"  # the last attempt raised: the .failed marker holds the error
    INCOMPLETE = "incomplete"  # outputs but no live attempt: interrupted, killed, or waiting to resume
    NOT_STARTED = "not started"  # no outputs at all

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
    BUSY = "busy"  # another live attempt holds the run: this one did nothing

    def __str__(self) -> str:
        return self.value


FINISHED = frozenset({RunStatus.COMPLETE, RunStatus.DIVERGED})  # final: never resubmitted unless asked
