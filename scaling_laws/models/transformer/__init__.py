"""The GPT-style decoder: its parameter count, activation memory, default shape and checks.

These rules are pure arithmetic on the config, so defining a study needs no torch; the torch
module itself (model.py) is imported only when a model is built.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from scaling_laws.config import ConfigError
from scaling_laws.counting import ParamCounts
from scaling_laws.models.architecture import Architecture, ConfigLike


def param_counts(cfg: ConfigLike) -> ParamCounts:
    """Parameters of the pre-norm decoder in model.py (bias-free linears, LayerNorm with bias)."""
    d = cfg.hidden_dim
    layer_norm = 2 * d
    attention = 4 * d * d  # fused q,k,v projection (3d^2) + output projection (d^2)
    mlp_matrices = 3 if cfg.activation == "swiglu" else 2  # swiglu has gate, up and down
    mlp = mlp_matrices * d * cfg.ffn_dim
    block = 2 * layer_norm + attention + mlp
    token_embedding = cfg.vocab_size * d
    position_embedding = cfg.seq_length * d
    output_head = 0 if cfg.tie_embeddings else cfg.vocab_size * d
    non_embedding = cfg.num_layers * block + layer_norm  # + final LayerNorm
    total = non_embedding + token_embedding + position_embedding + output_head
    return ParamCounts(total=total, non_embedding=non_embedding)


def activation_bytes_per_sequence(cfg: ConfigLike) -> int:
    """Korthikanti et al. 2022 eq. 2 (no recomputation: 34 s d + 5 a s^2 bytes per layer for 16-bit
    activations) plus the fp32 logits and their gradient (2 x 4 s V bytes)."""
    seq = cfg.seq_length
    per_layer = 34 * seq * cfg.hidden_dim + 5 * cfg.num_heads * seq ** 2
    logits = 2 * 4 * seq * cfg.vocab_size
    return cfg.num_layers * per_layer + logits


def flops_per_token(cfg: ConfigLike) -> float:
    """6 N + 12 L d T per token (PaLM appendix B, as nanoGPT counts MFU): N without the position
    embedding, the last term the attention scores and their weighted sum, forward and backward."""
    position_embedding = cfg.seq_length * cfg.hidden_dim
    return 6.0 * (param_counts(cfg).total - position_embedding) + 12.0 * cfg.num_layers * cfg.hidden_dim * cfg.seq_length


def default_num_layers(hidden_dim: int) -> int:
    """Aspect ratio d/L of about 64, as GPT-2 small; at least 2 blocks."""
    return max(2, hidden_dim // 64)


def default_num_heads(hidden_dim: int) -> int:
    """The largest divisor of hidden_dim that is at most max(1, hidden_dim // 64): head size about 64."""
    upper = max(1, hidden_dim // 64)
    return max(h for h in range(1, upper + 1) if hidden_dim % h == 0)


def default_ffn_dim(hidden_dim: int, activation: str) -> int:
    """4d; for swiglu 8/3 d rounded up to a multiple of 8 (the same MLP parameters with three matrices)."""
    if activation == "swiglu":
        return 8 * math.ceil(8 * hidden_dim / 3 / 8)
    return 4 * hidden_dim


def default_shape(fields: Mapping[str, Any]) -> dict[str, Any]:
    d = fields["hidden_dim"]
    return {"num_layers": default_num_layers(d), "num_heads": default_num_heads(d),
            "ffn_dim": default_ffn_dim(d, fields["activation"])}


def check(cfg: ConfigLike) -> None:
    if cfg.hidden_dim % cfg.num_heads:
        raise ConfigError(f"num_heads={cfg.num_heads} does not divide hidden_dim={cfg.hidden_dim}; "
                          f"pick a divisor of {cfg.hidden_dim}")


def build(cfg: ConfigLike):
    from scaling_laws.models.transformer.model import TransformerLM

    return TransformerLM(cfg)


ARCHITECTURE = Architecture(name="transformer", build=build, param_counts=param_counts,
                            activation_bytes_per_sequence=activation_bytes_per_sequence,
                            default_shape=default_shape, check=check,
                            options={"activation": ("gelu", "relu", "swiglu"), "tie_embeddings": (True, False)},
                            flops_per_token=flops_per_token)
