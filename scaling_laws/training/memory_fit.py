"""Fitting a run's micro-batch to the device it actually runs on, and surviving an out-of-memory step.

At definition time the micro-batch is sized for the declared ``gpu_memory_gb``. When the run starts
on a GPU with another amount of memory, ``resize_micro_batch`` sizes it again for that device with
the same rule (models/memory.py). If a step still runs out of memory, ``step_fitting_memory`` halves
the micro-batch (doubles the accumulation) and retries the same step. Either way
batch_size x gradient_accumulation_steps == target_effective_batch_size still holds, and a step
trains on the same sequences however it is split (training/data.train_batch), so the token
accounting and the run's identity are unchanged. A user-set micro-batch (``micro_batch_fixed``) is
never resized at the start; an OOM of a fixed micro-batch still falls back rather than dying.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable, Optional

import torch

from scaling_laws.config import ExperimentConfig
from scaling_laws.models.memory import GIB, choose_micro_batch, estimate, per_rank_sequences

log = logging.getLogger("scaling")

Batches = list[tuple[torch.Tensor, torch.Tensor]]


def device_memory_gb(device: torch.device) -> Optional[float]:
    """Total memory of a CUDA device in GiB (the unit gpu_memory_gb is read in); None for the CPU."""
    if device.type != "cuda":
        return None
    return torch.cuda.get_device_properties(device).total_memory / GIB


def resize_micro_batch(cfg: ExperimentConfig, memory_gb: Optional[float]) -> ExperimentConfig:
    """``cfg`` with its micro-batch sized for a device of ``memory_gb`` (unchanged for the CPU, a fixed
    micro-batch, or a device of the declared memory); logs a change."""
    if memory_gb is None or cfg.micro_batch_fixed or abs(memory_gb - cfg.gpu_memory_gb) < 0.01 * cfg.gpu_memory_gb:
        return cfg
    batch_size, accumulation = choose_micro_batch(cfg, memory_gb)
    if (batch_size, accumulation) == (cfg.batch_size, cfg.gradient_accumulation_steps):
        return cfg
    log.info("%s: device has %.1f GiB, not gpu_memory_gb=%g: micro-batch %d x %d accumulation -> %d x %d "
             "(predicted peak %.2f GiB, target_gpu_memory_usage %g)", cfg.label, memory_gb, cfg.gpu_memory_gb,
             cfg.batch_size, cfg.gradient_accumulation_steps, batch_size, accumulation,
             estimate(cfg, batch_size, accumulation, cfg.world_size).device_bytes / GIB, cfg.target_gpu_memory_usage)
    return dataclasses.replace(cfg, batch_size=batch_size, gradient_accumulation_steps=accumulation)


def memory_record(cfg: ExperimentConfig, memory_gb: Optional[float], world_size: int) -> dict[str, Any]:
    """What the config JSON records about memory: the device, the prediction and the micro-batch used."""
    predicted = estimate(cfg, world_size=world_size)
    return {"declared_gpu_memory_gb": cfg.gpu_memory_gb, "device_memory_gib": memory_gb,
            "predicted_peak_allocated_gib": round(predicted.peak_allocated / GIB, 4),
            "predicted_device_gib": round(predicted.device_bytes / GIB, 4),
            "batch_size": cfg.batch_size, "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
            "oom_fallbacks": []}


def smaller_micro_batch(cfg: ExperimentConfig) -> Optional[ExperimentConfig]:
    """The next micro-batch down: the largest divisor of the rank's share of target_effective_batch_size at
    most half the current one, with the accumulation making up the rest; None at one sequence."""
    target = per_rank_sequences(cfg)
    smaller = [d for d in range(1, cfg.batch_size // 2 + 1) if target % d == 0]
    if not smaller:
        return None
    return dataclasses.replace(cfg, batch_size=smaller[-1], gradient_accumulation_steps=target // smaller[-1])


def split_step(batches: Batches, batch_size: int) -> Batches:
    """A step's sequences cut into micro-batches of ``batch_size`` (the same sequences, in the same order)."""
    if all(inputs.shape[0] == batch_size for inputs, _ in batches):
        return batches
    inputs = torch.cat([inputs for inputs, _ in batches])
    targets = torch.cat([targets for _, targets in batches])
    return list(zip(inputs.split(batch_size), targets.split(batch_size)))


CPU_ALLOCATION_FAILED = "DefaultCPUAllocator: can't allocate memory"  # what torch's CPU allocator raises


def is_out_of_memory(error: BaseException) -> bool:
    """A CUDA out-of-memory error, or the CPU allocator's (a RuntimeError, not torch.OutOfMemoryError)."""
    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and CPU_ALLOCATION_FAILED in str(error))


def step_fitting_memory(trainer, batches: Batches, lr: float, step: int,
                        on_fallback: Callable[[dict[str, Any]], None] = lambda change: None):
    """``trainer.train_step`` on ``batches``, split by the trainer's current micro-batch; on an out-of-memory
    error the gradients are dropped, the micro-batch halved (``trainer.cfg`` replaced) and the same step
    retried, until one sequence per micro-batch. Several processes cannot agree on a fallback mid-step
    (the other ranks wait in an all-reduce), so there the error is raised."""
    while True:
        smaller = None
        try:
            return trainer.train_step(split_step(batches, trainer.cfg.batch_size), lr, step)
        except RuntimeError as error:  # torch.OutOfMemoryError is one
            smaller = smaller_micro_batch(trainer.cfg)
            if not is_out_of_memory(error) or smaller is None or trainer.dist.world_size > 1:
                raise
        # Outside the except block: the error's traceback (and the step's activations) are released.
        change = {"step": step + 1, "from": [trainer.cfg.batch_size, trainer.cfg.gradient_accumulation_steps],
                  "to": [smaller.batch_size, smaller.gradient_accumulation_steps]}
        log.warning("%s: out of memory at step %d with micro-batch %d x %d accumulation; retrying the step with "
                    "%d x %d", trainer.cfg.label, step + 1, *change["from"], *change["to"])
        trainer.optimizer.zero_grad(set_to_none=True)
        if trainer.device.type == "cuda":
            torch.cuda.empty_cache()
        trainer.cfg = smaller
        on_fallback(change)
