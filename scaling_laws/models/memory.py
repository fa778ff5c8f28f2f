"""Predicted peak GPU memory of one training step, as a breakdown, and the micro-batch rule built on it.

The peak that ``torch.cuda.max_memory_allocated()`` reports during training (optimizer state
present, i.e. from the second step on) is, for the loop in core.py:

    parameters + AdamW moments + DDP gradient buckets            (alive all the time)
  + max(forward peak, gradients)                                  (alive for a step)

where the forward peak is everything alive when the backward pass starts: the 16-bit weight copies
autocast made (saved for backward), every layer's saved activations, the logits and cross-entropy
buffers, and, under gradient accumulation, the gradients of the micro-batches before (they are
only freed by zero_grad after the optimizer step; a step replayed as CUDA graphs keeps them
zeroed in place, core.Trainer). Otherwise the gradients are made while the activations are freed,
so the two only compete: with one micro-batch under CUDA graphs too, where ``.grad`` takes the
backward graph's outputs and lets them go after the step. The CUDA context and the cuBLAS
workspace outside the allocator come on top of that for the device (``device_bytes``).

Everything the architecture decides (what a layer saves, what its logits cost) comes from its
``memory_stages`` rule (models/<name>/counts.py); this module adds what the training loop decides.
Measured against real runs in benchmarks/memory_estimate.py (docs/memory.md).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from types import SimpleNamespace
from typing import Any

from scaling_laws.counting import per_rank_batch
from scaling_laws.models import architecture
from scaling_laws.models.architecture import ConfigLike, MemoryStages

GIB = 2**30
CUDA_CONTEXT_BYTES = 600 * 2**20  # driver context, kernels and cuBLAS handles: outside the caching allocator
# cuBLAS workspaces, taken from the caching allocator: 32 MiB per handle on Hopper, and a step uses two
# handles (the training thread's for the forward pass, autograd's device thread's for the backward pass):
# every measured row, the smallest models' too, was 32 MiB over a one-workspace prediction (docs/memory.md).
CUBLAS_WORKSPACE_BYTES = 32 * 2**20
ALLOCATOR_WORKSPACE_BYTES = 2 * CUBLAS_WORKSPACE_BYTES


@dataclass(frozen=True)
class Precision:
    """How a run computes on CUDA: the size of an activation element and whether the graph is compiled."""

    activation_bytes: int  # 2 under bf16 autocast, 4 in fp32
    compiled: bool  # torch.compile of model + loss (inductor saves fewer activations, fuses the loss)


def precision_on_cuda(cfg: ConfigLike) -> Precision:
    """The precision core.Trainer picks on a CUDA device for this config (dtype/compile auto: bf16, compiled)."""
    return Precision(activation_bytes=4 if cfg.dtype == "float32" else 2, compiled=cfg.compile != "off")


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes of each part of a training step's peak, for one process."""

    parameters: int  # fp32 master weights
    gradients: int  # fp32 .grad of every parameter
    optimizer: int  # AdamW exp_avg and exp_avg_sq (fp32)
    ddp_buckets: int  # DDP's gradient buckets (a second copy of the gradients), 0 on one process
    weight_copies: int  # 16-bit copies of the matrices made by autocast, saved for backward
    activations: int  # every layer's saved activations for the micro-batch
    logits: int  # logits, log-softmax output and their gradients at the start of the backward pass
    workspace: int  # cuBLAS workspace taken from the caching allocator
    gradients_in_forward: bool  # accumulation > 1 or the family's backward: gradients meet the activations
    cuda_context: int = CUDA_CONTEXT_BYTES  # outside the allocator: not in max_memory_allocated

    @property
    def forward_peak(self) -> int:
        """What is alive when the backward pass starts, besides the always-alive states."""
        held_gradients = self.gradients if self.gradients_in_forward else 0
        return self.weight_copies + self.activations + self.logits + held_gradients

    @property
    def peak_allocated(self) -> int:
        """Predicted ``torch.cuda.max_memory_allocated()`` of a training step (bytes)."""
        always = self.parameters + self.optimizer + self.ddp_buckets + self.workspace
        return always + max(self.forward_peak, self.gradients)

    @property
    def device_bytes(self) -> int:
        """Device memory the step needs: the allocator's peak plus the CUDA context."""
        return self.peak_allocated + self.cuda_context

    def as_gib(self) -> dict[str, Any]:
        parts = {k: v / GIB for k, v in asdict(self).items() if k != "gradients_in_forward"}
        return {**parts, "peak_allocated": self.peak_allocated / GIB, "device": self.device_bytes / GIB}


def estimate(cfg: ConfigLike, batch_size: int | None = None, accumulation: int | None = None,
             world_size: int = 1) -> MemoryBreakdown:
    """The predicted peak of one training step of ``cfg`` on a CUDA device (its micro-batch unless given)."""
    arch = architecture(cfg.architecture)
    batch = cfg.batch_size if batch_size is None else batch_size
    accum = cfg.gradient_accumulation_steps if accumulation is None else accumulation
    total = arch.param_counts(cfg).total
    stages = stages_of(arch, cfg)
    return MemoryBreakdown(parameters=4 * total, gradients=4 * total, optimizer=8 * total,
                           ddp_buckets=4 * total if world_size > 1 else 0,
                           weight_copies=stages.weight_copies, activations=batch * stages.layers_per_sequence,
                           logits=batch * stages.logits_per_sequence, workspace=ALLOCATOR_WORKSPACE_BYTES,
                           gradients_in_forward=accum > 1 or stages.gradients_with_activations)


def stages_of(arch, cfg: ConfigLike) -> MemoryStages:
    """The architecture's memory stages; a family without that rule gives its activations per sequence only."""
    if arch.memory_stages is not None:
        return arch.memory_stages(cfg, precision_on_cuda(cfg))
    return MemoryStages(layers_per_sequence=arch.activation_bytes_per_sequence(cfg), logits_per_sequence=0,
                        weight_copies=0)


def usable_bytes(gpu_memory_gb: float, target_gpu_memory_usage: float) -> float:
    """Device memory a step may fill: the target share of the device (GB read as GiB, as GPUs are sold)."""
    return target_gpu_memory_usage * gpu_memory_gb * GIB


def per_rank_sequences(cfg: ConfigLike) -> int:
    """Sequences of a step on one rank, for a config or the fields resolved so far."""
    return per_rank_batch(cfg.target_effective_batch_size, getattr(cfg, "world_size", 1))


def fits(cfg: ConfigLike, batch_size: int, gpu_memory_gb: float, usage: float, world_size: int = 1) -> bool:
    accumulation = per_rank_sequences(cfg) // batch_size
    return estimate(cfg, batch_size, accumulation, world_size).device_bytes <= usable_bytes(gpu_memory_gb, usage)


def choose_micro_batch(cfg: ConfigLike, gpu_memory_gb: float) -> tuple[int, int]:
    """(batch_size, gradient_accumulation_steps) per rank: the largest divisor of the rank's share of
    target_effective_batch_size whose predicted step fits target_gpu_memory_usage of ``gpu_memory_gb`` (one
    sequence if none does), so that batch_size x gradient_accumulation_steps x world_size is the target exactly."""
    target, world_size = per_rank_sequences(cfg), getattr(cfg, "world_size", 1)
    divisors = [d for d in range(1, target + 1) if target % d == 0]
    fitting = [d for d in divisors if fits(cfg, d, gpu_memory_gb, cfg.target_gpu_memory_usage, world_size)]
    batch_size = max(fitting, default=1)
    return batch_size, target // batch_size


def choose_for_fields(fields: dict[str, Any], gpu_memory_gb: float) -> tuple[int, int]:
    """choose_micro_batch for the fields resolved so far (gen_experim has no config object yet)."""
    probe = SimpleNamespace(**{"batch_size": 1, "gradient_accumulation_steps": 1, **fields})
    return choose_micro_batch(probe, gpu_memory_gb)
