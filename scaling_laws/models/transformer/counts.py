"""The GPT-style decoder's analytic counts: parameters, activation memory and training FLOPs.

Pure arithmetic on the config, so defining a study needs no torch. Every building-block choice the
model reads (model.py and its pieces) is counted here; the count test checks these against numel.
"""
from __future__ import annotations

from scaling_laws.counting import ParamCounts
from scaling_laws.models.architecture import ConfigLike


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
