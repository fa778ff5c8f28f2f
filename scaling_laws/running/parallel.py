"""Running a study's experiments side by side on this machine: one child process per experiment,
``per_gpu`` at a time on each visible GPU (or ``per_gpu`` on the CPU), each a normal run with its own
files. Small models leave a GPU mostly idle on kernel launches; several processes fill the gaps.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, Optional

from scaling_laws.training.cpu_threads import THREADS_ENV, available_cpus

POLL_S = 0.2  # seconds between checks on the children


@dataclass(frozen=True)
class Slot:
    """A place one child runs in: a GPU index (None: the CPU) and a number on it."""

    gpu: Optional[int]
    number: int

    def env(self, cpu_threads: int) -> dict[str, str]:
        env = {**os.environ, THREADS_ENV: str(cpu_threads)}
        if self.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = str(self.gpu)
        return env


def slots_for(gpu_count: int, per_gpu: int) -> list[Slot]:
    """per_gpu slots on each GPU, or per_gpu CPU slots when there is no GPU."""
    gpus: list[Optional[int]] = list(range(gpu_count)) or [None]
    return [Slot(gpu, number) for gpu in gpus for number in range(per_gpu)]


def visible_gpu_count() -> int:
    """GPUs this process may use, counted without initialising CUDA here (children do that)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([part for part in visible.split(",") if part.strip() and part.strip() != "-1"])
    try:
        import torch

        return torch.cuda.device_count()
    except ImportError:
        return 0


def run_in_slots(command_for: Callable[[int], list[str]], indices: list[int], slots: list[Slot]) -> int:
    """Run ``command_for(index)`` for every index, one per free slot; the combined exit code.

    SIGTERM and SIGUSR1 reach every child (each checkpoints at the end of its step); the children
    still queued are not started.
    """
    waiting, running, codes = list(indices), {}, []
    threads = max(1, available_cpus() // len(slots))
    stopping = {"signal": None}

    def forward(signum, frame):
        stopping["signal"] = signum
        for child in running.values():
            child.send_signal(signum)

    previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGTERM, signal.SIGUSR1)}
    try:
        while waiting or running:
            for slot in slots:
                if slot not in running and waiting and stopping["signal"] is None:
                    running[slot] = subprocess.Popen(command_for(waiting.pop(0)), env=slot.env(threads))
            for slot, child in list(running.items()):
                if child.poll() is not None:
                    codes.append(child.returncode)
                    del running[slot]
            if stopping["signal"] is not None and not running:
                break
            time.sleep(POLL_S)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if stopping["signal"] is not None:
        return 128 + stopping["signal"]
    return combined_exit_code(codes)


def combined_exit_code(codes: list[int]) -> int:
    """The children's codes as one, as a run share reports its runs: 0 if all succeeded, 2 if the only
    failures were refusals (exit 2), else 1."""
    failed = [code for code in codes if code != 0]
    if not failed:
        return 0
    return 2 if all(code == 2 for code in failed) else 1


def experiment_command(argv_base: list[str]) -> Callable[[int], list[str]]:
    """The child command for one index: this interpreter, experiments.py, the study's own arguments."""
    return lambda index: [sys.executable, *argv_base, "--index", str(index)]
