"""The one place for the units of a scaling law: parameter counts and training FLOPs.

Each architecture counts its own parameters analytically (``models.param_counts``) into a
:class:`ParamCounts`; the FLOP and token formulas here are the same for every architecture.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ParamCounts:
    total: int  # every trainable parameter: what Chinchilla's N counts
    non_embedding: int  # total minus token/position embeddings and an untied output head (Kaplan's N)


def chinchilla_flops(total_params: int, tokens: int) -> float:
    """Training compute C = 6 N D (Kaplan et al. 2020 sec. 2.1; Hoffmann et al. 2022), N = total params."""
    return 6.0 * total_params * tokens


def tokens_processed(optimizer_steps: int, batch_size: int, gradient_accumulation_steps: int,
                     world_size: int, seq_length: int) -> int:
    """Tokens consumed after ``optimizer_steps`` steps, summed over all ranks."""
    return optimizer_steps * batch_size * gradient_accumulation_steps * world_size * seq_length
