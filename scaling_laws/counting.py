"""The one place for the units of a scaling law: parameter counts and training FLOPs.

Each architecture counts its own parameters analytically (``models.param_counts``) into a
:class:`ParamCounts`; the FLOP and token formulas here are the same for every architecture.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from scaling_laws.config import ConfigError


@dataclass(frozen=True)
class ParamCounts:
    total: int  # every trainable parameter: what Chinchilla's N counts
    non_embedding: int  # total minus token/position embeddings and an untied output head (Kaplan's N)


def chinchilla_flops(total_params: int, tokens: int) -> float:
    """Training compute C = 6 N D (Kaplan et al. 2020 sec. 2.1; Hoffmann et al. 2022), N = total params."""
    return 6.0 * total_params * tokens


def flops_with_attention(flops_per_token: Optional[float], tokens: int) -> Optional[float]:
    """Training compute with attention: the architecture's FLOPs per token (for the transformer
    6 N + 12 L d T, PaLM appendix B) times tokens; None where the architecture does not count them.
    6ND leaves attention out (+27% at d=128, +4% at d=1024 for seq 512), an error that depends on size."""
    return None if flops_per_token is None else flops_per_token * tokens


def tokens_processed(optimizer_steps: int, batch_size: int, gradient_accumulation_steps: int,
                     world_size: int, seq_length: int) -> int:
    """Tokens consumed after ``optimizer_steps`` steps, summed over all ranks."""
    return optimizer_steps * batch_size * gradient_accumulation_steps * world_size * seq_length


# Dense bf16 tensor-core peak per device (vendor datasheets, SXM parts), for model FLOPs utilisation.
PEAK_BF16_FLOPS = {"H100": 989.4e12, "H200": 989.4e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}


def peak_bf16_flops(device_name: str) -> Optional[float]:
    """The peak of the first known GPU whose name appears in ``device_name`` ('NVIDIA H200'), else None."""
    return next((peak for name, peak in PEAK_BF16_FLOPS.items() if name in device_name), None)


def model_flops_utilisation(tokens_per_second: float, flops_per_token: Optional[float],
                            peak_flops: Optional[float]) -> Optional[float]:
    """Achieved model FLOP/s over the device's peak (None where either is unknown, e.g. on CPU)."""
    if flops_per_token is None or peak_flops is None:
        return None
    return tokens_per_second * flops_per_token / peak_flops


def per_rank_batch(target_effective_batch_size: int, world_size: int = 1) -> int:
    """Sequences of a step on one rank: the global batch / world_size; ConfigError when it does not divide."""
    if target_effective_batch_size % world_size:
        raise ConfigError(f"world_size={world_size} does not divide target_effective_batch_size="
                          f"{target_effective_batch_size}: every rank takes an equal share of the global batch; "
                          "pick a world_size dividing it")
    return target_effective_batch_size // world_size
