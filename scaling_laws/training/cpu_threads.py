"""CPU threads: use the cores this process may run on, no more (oversubscription is slow), and fewer on a node
that other users keep busy.

Data needs no worker processes: batches are cut from a memory-mapped token file (training/data.py), on CUDA
ahead of time in a thread (training/prefetch.py); the threads here are torch's intra-op threads.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import psutil
import torch

log = logging.getLogger("scaling")

THREADS_ENV = "SCALING_CPU_THREADS"
# A node whose 1-minute load average exceeds this share of its logical CPUs is shared with other work: a run
# outside Slurm's allocation then takes only the cores the load leaves idle.
LOADED_FRACTION = 0.5


@dataclass(frozen=True)
class CpuPlan:
    """How many intra-op threads a process takes, and why (logged when a CPU run starts)."""

    threads: int
    reason: str


def allowed_cpus() -> int:
    """CPUs the affinity mask lets this process use, at most the physical cores."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        affinity = os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or affinity
    return max(1, min(affinity, physical))


def plan_threads(env_threads: str | None, slurm_cpus: str | None, allowed: int, logical_cpus: int, load: float,
                 conservative: bool = False) -> CpuPlan:
    """The rule: $SCALING_CPU_THREADS if set, else Slurm's allocation (ours alone), else the allowed cores,
    cut to the idle ones when the node is loaded; force_conservative_cpu halves the result."""
    if env_threads:
        plan = CpuPlan(max(1, int(env_threads)), f"${THREADS_ENV}={env_threads}")
    elif slurm_cpus:
        plan = CpuPlan(max(1, int(slurm_cpus)), f"$SLURM_CPUS_PER_TASK={slurm_cpus}")
    elif load > LOADED_FRACTION * logical_cpus:
        idle = max(1, int(logical_cpus - load))
        plan = CpuPlan(min(allowed, idle), f"{allowed} cores allowed, node loaded ({load:.1f} on {logical_cpus} CPUs): "
                                           f"{idle} idle")
    else:
        plan = CpuPlan(allowed, f"{allowed} cores allowed (affinity mask, physical cores)")
    if conservative:
        plan = CpuPlan(max(1, plan.threads // 2), f"force_conservative_cpu: half of {plan.threads} ({plan.reason})")
    return plan


def cpu_plan(conservative: bool = False) -> CpuPlan:
    """plan_threads on this process's environment, affinity and the node's 1-minute load."""
    return plan_threads(os.environ.get(THREADS_ENV), os.environ.get("SLURM_CPUS_PER_TASK"), allowed_cpus(),
                        psutil.cpu_count() or 1, psutil.getloadavg()[0], conservative)


def available_cpus(conservative: bool = False) -> int:
    """CPUs this task may use (cpu_plan): the share handed to ranks and packed runs is taken from it."""
    return cpu_plan(conservative).threads


def configure_cpu_threads(per_process_share: int = 1, conservative: bool = False) -> int:
    """Set torch's intra-op threads to this process's share of the CPUs, log why; returns the count."""
    plan = cpu_plan(conservative)
    threads = max(1, plan.threads // per_process_share)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    log.info("CPU: %d intra-op thread(s): %s", threads, plan.reason)
    return threads
