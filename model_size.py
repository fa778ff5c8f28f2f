"""The one place that counts parameters and FLOPs, analytically from the config.

The counts match ``sum(p.numel() for p in model.parameters())`` of the model ``core`` builds
(tested for several widths, activations, tied and untied embeddings).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ParamCounts:
    total: int  # every trainable parameter: what Chinchilla's N counts
    non_embedding: int  # total minus token/position embeddings and an untied output head (Kaplan's N)


def transformer_param_counts(hidden_dim: int, num_layers: int, ffn_dim: int, activation: str,
                             vocab_size: int, seq_length: int, tie_embeddings: bool) -> ParamCounts:
    """Parameters of the pre-norm decoder in core.py (bias-free linears, LayerNorm with bias)."""
    d = hidden_dim
    layer_norm = 2 * d
    attention = 4 * d * d  # fused q,k,v projection (3d^2) + output projection (d^2)
    mlp_matrices = 3 if activation == "swiglu" else 2  # swiglu has gate, up and down
    mlp = mlp_matrices * d * ffn_dim
    block = 2 * layer_norm + attention + mlp
    token_embedding = vocab_size * d
    position_embedding = seq_length * d
    output_head = 0 if tie_embeddings else vocab_size * d
    non_embedding = num_layers * block + layer_norm  # + final LayerNorm
    total = non_embedding + token_embedding + position_embedding + output_head
    return ParamCounts(total=total, non_embedding=non_embedding)


def param_counts(cfg) -> ParamCounts:
    """Parameter counts of the model a config builds (any object with the config's fields)."""
    return transformer_param_counts(cfg.hidden_dim, cfg.num_layers, cfg.ffn_dim, cfg.activation,
                                    cfg.vocab_size, cfg.seq_length, cfg.tie_embeddings)


def chinchilla_flops(total_params: int, tokens: int) -> float:
    """Training compute C = 6 N D (Kaplan et al. 2020 sec. 2.1; Hoffmann et al. 2022), N = total params."""
    return 6.0 * total_params * tokens


def tokens_processed(optimizer_steps: int, batch_size: int, gradient_accumulation_steps: int,
                     world_size: int, seq_length: int) -> int:
    """Tokens consumed after ``optimizer_steps`` steps, summed over all ranks."""
    return optimizer_steps * batch_size * gradient_accumulation_steps * world_size * seq_length
