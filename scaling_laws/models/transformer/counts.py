"""The GPT-style decoder's analytic counts: parameters, activation memory and training FLOPs.

Pure arithmetic on the config, so defining a study needs no torch. Every building-block choice the
model reads (model.py and its pieces) is counted here; the count test checks these against numel for
every combination in the architecture's ``options``.
"""
from __future__ import annotations

from scaling_laws.counting import ParamCounts
from scaling_laws.models.architecture import ConfigLike
from scaling_laws.models.transformer.shape import GATED_ACTIVATIONS

NORM_PARAMS_PER_WIDTH = {"layernorm": 2, "rmsnorm": 1, "none": 0}  # LayerNorm: scale and bias; RMSNorm: scale


def norms_per_model(cfg: ConfigLike) -> tuple[int, int]:
    """(norms per block, final norms): pre-norm has a final norm before the readout, post-norm does not
    (each block's output is already normalised)."""
    return 2, 1 if cfg.norm_placement == "pre" else 0


def param_counts(cfg: ConfigLike) -> ParamCounts:
    """Parameters of the decoder in model.py: norms, attention, MLP, embeddings, untied head; biases with bias=True."""
    d, f, bias = cfg.hidden_dim, cfg.ffn_dim, int(cfg.bias)
    norm = NORM_PARAMS_PER_WIDTH[cfg.norm] * d
    attention = 4 * d * d + bias * 4 * d  # fused q,k,v projection (3d^2) + output projection (d^2)
    inner = 2 * f if cfg.activation in GATED_ACTIVATIONS else f  # gated: gate and value fused in one matrix
    mlp = d * inner + f * d + bias * (inner + d)
    per_block, final = norms_per_model(cfg)
    block = per_block * norm + attention + mlp
    token_embedding = cfg.vocab_size * d
    position_embedding = cfg.seq_length * d if cfg.position_encoding == "learned" else 0  # rotary, sinusoidal: none
    output_head = 0 if cfg.tie_embeddings else cfg.vocab_size * d + bias * cfg.vocab_size
    non_embedding = cfg.num_layers * block + final * norm
    total = non_embedding + token_embedding + position_embedding + output_head
    return ParamCounts(total=total, non_embedding=non_embedding)


def activation_bytes_per_sequence(cfg: ConfigLike) -> int:
    """Korthikanti et al. 2022 eq. 2 (no recomputation: 34 s d + 5 a s^2 bytes per layer for 16-bit
    activations, dropout masks included, so dropout adds nothing) plus the fp32 logits and their gradient
    (2 x 4 s V bytes). Without norms the two norm inputs (4 s d) are not kept; rotary keeps the rotated q
    and k (4 s d) besides their inputs. A gated MLP at its default width 8d/3 keeps what a 4d one does."""
    seq, d = cfg.seq_length, cfg.hidden_dim
    per_layer = 34 * seq * d + 5 * cfg.num_heads * seq ** 2
    per_layer -= 4 * seq * d if cfg.norm == "none" else 0
    per_layer += 4 * seq * d if cfg.position_encoding == "rotary" else 0
    logits = 2 * 4 * seq * cfg.vocab_size
    return cfg.num_layers * per_layer + logits


def flops_per_token(cfg: ConfigLike) -> float:
    """6 N + 12 L d T per token (PaLM appendix B, as nanoGPT counts MFU): N without the position
    embedding (a lookup), the last term the attention scores and their weighted sum, forward and backward.
    Norms, activations, rotations and biases' adds are elementwise and left out, as in that convention."""
    position_embedding = cfg.seq_length * cfg.hidden_dim if cfg.position_encoding == "learned" else 0
    return 6.0 * (param_counts(cfg).total - position_embedding) + 12.0 * cfg.num_layers * cfg.hidden_dim * cfg.seq_length
