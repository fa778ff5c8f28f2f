"""A simple device-memory rule for choosing the micro-batch, for any registered architecture.

Bytes = model state (fp32 weights, grads and two AdamW moments: 16 bytes per parameter)
plus the architecture's activations per sequence times the micro-batch. Only a starting point:
the accurate, measured estimator is its own piece of work.
"""
from __future__ import annotations

USABLE_FRACTION = 0.8  # leave room for the allocator, CUDA context and fragmentation


def model_state_bytes(total_params: int) -> int:
    return 16 * total_params


def choose_micro_batch(target_effective_batch_size: int, total_params: int, per_sequence_bytes: int,
                       gpu_memory_gb: float) -> tuple[int, int]:
    """(batch_size, gradient_accumulation_steps) with the largest micro-batch that fits and
    batch_size x gradient_accumulation_steps == target_effective_batch_size exactly."""
    budget = USABLE_FRACTION * gpu_memory_gb * 2**30 - model_state_bytes(total_params)
    fitting = max(1, int(budget // per_sequence_bytes))  # one sequence at least, even if nothing fits
    batch_size = max(d for d in range(1, min(fitting, target_effective_batch_size) + 1)
                     if target_effective_batch_size % d == 0)
    return batch_size, target_effective_batch_size // batch_size
