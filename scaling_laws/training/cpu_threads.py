"""CPU threads: use the cores this process may run on, no more (oversubscription is slow)."""
from __future__ import annotations

import os

import psutil
import torch


THREADS_ENV = "SCALING_CPU_THREADS"


def available_cpus() -> int:
    """CPUs this task may use: $SCALING_CPU_THREADS, SLURM's allocation, the affinity mask, or physical cores."""
    for name in (THREADS_ENV, "SLURM_CPUS_PER_TASK"):
        if os.environ.get(name):
            return max(1, int(os.environ[name]))
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        affinity = os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or affinity
    return max(1, min(affinity, physical))


def configure_cpu_threads(per_process_share: int = 1) -> int:
    """Set torch's intra-op threads to this process's share of the CPUs; returns the count."""
    threads = max(1, available_cpus() // per_process_share)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
