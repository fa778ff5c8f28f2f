"""Stopping a run cleanly on a signal (requeueing its Slurm task is slurm_env.py).

Slurm warns a job before its time limit with the signal of ``--signal=B:USR1@<grace>`` and
sends SIGTERM on scancel or preemption. A handler that checkpointed right away could catch the
optimizer halfway through an update, so the handler only records the signal; ``core.train``
polls the flag after each step, checkpoints there and returns "interrupted".
"""
from __future__ import annotations

import signal
from typing import Iterable, Optional

REQUEUE_SIGNAL = signal.SIGUSR1  # sbatch --signal=B:USR1@<grace>: time limit near, requeue and resume


class StopSignals:
    """While active (``with``), the given signals set a flag instead of ending the process.

    Calling the object answers "was a stop requested?", so it is the ``stop_requested``
    argument of ``core.train``. ``received`` is the first signal caught (None if none).
    """

    def __init__(self, signums: Iterable[int] = (REQUEUE_SIGNAL, signal.SIGTERM)):
        self.signums = tuple(signums)
        self.received: Optional[int] = None
        self.previous: dict[int, object] = {}

    def _handle(self, signum: int, frame) -> None:
        if self.received is None:
            self.received = signum

    def __call__(self) -> bool:
        return self.received is not None

    def __enter__(self) -> "StopSignals":
        for signum in self.signums:
            self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
