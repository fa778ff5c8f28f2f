"""The GPT-style decoder's analytic counts: parameters, activation memory and training FLOPs.

Pure arithmetic on the config, so defining a study needs no torch. Every building-block choice the
model reads (model.py and its pieces) is counted here; the count test checks these against numel for
every combination in the architecture's ``options``.
"""
from __future__ import annotations

from scaling_laws.counting import ParamCounts
from scaling_laws.models.architecture import EAGER_LOGIT_BYTES, ConfigLike, MemoryStages
from scaling_laws.models.transformer.shape import GATED_ACTIVATIONS

NORM_PARAMS_PER_WIDTH = {"layernorm": 2, "layernorm_nobias": 1, "rmsnorm": 1, "none": 0}  # scale and bias; scale


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


# Elements of width ffn_dim the MLP keeps per token: gelu keeps its input and output (the down projection's
# input), relu only its output; a gated one (swiglu, geglu, glu) the fused gate+up output (2f), act(gate) and
# the product (4f). silu is measured as gelu's rule; norms other than layernorm are sized as layernorm (an upper bound).
MLP_SAVED_WIDTHS = {"gelu": 2, "silu": 2, "relu": 1, **{name: 4 for name in GATED_ACTIVATIONS}}
# Eager: EAGER_LOGIT_BYTES per logit (architecture.py). Compiled: the logits are kept in the activation dtype
# and a fused kernel makes their gradient; measured with inductor on the CPU (docs/memory.md), the layers keep
# what eager keeps.


def memory_stages(cfg: ConfigLike, precision) -> MemoryStages:
    """What one training step keeps per sequence (models/memory.py adds parameters and optimizer state).

    Per layer, with a = bytes per activation element (2 under bf16 autocast, 4 in fp32): the two
    LayerNorm inputs in fp32 (the residual stream stays fp32 under autocast), the normalised inputs
    the qkv and up projections keep (a cast copy under autocast), q, k, v and the attention output,
    the flash-attention logsumexp (fp32 per head and token: no s^2 term), and the MLP's saved widths.
    Checked against the tensors autograd saves (tests/test_models_memory.py).
    """
    seq, d, a = cfg.seq_length, cfg.hidden_dim, precision.activation_bytes
    residual = 2 * 4 * seq * d
    normalised = 2 * a * seq * d
    attention = a * 4 * seq * d + 4 * cfg.num_heads * seq
    norm_stats = 2 * 2 * 4 * seq  # mean and rstd of each LayerNorm, fp32
    per_layer = residual + normalised + attention + a * MLP_SAVED_WIDTHS[cfg.activation] * cfg.ffn_dim * seq + norm_stats
    final_norm = 4 * seq * d + a * seq * d + 2 * 4 * seq
    per_logit = a if precision.compiled else EAGER_LOGIT_BYTES
    # Autocast's bf16 copies of the matrices (the readout's included) live until backward uses them.
    per_block, final = norms_per_model(cfg)
    norm_params = (cfg.num_layers * per_block + final) * NORM_PARAMS_PER_WIDTH[cfg.norm] * d
    matrices = param_counts(cfg).non_embedding - norm_params + cfg.vocab_size * d
    copies = 0 if a == 4 else 2 * matrices
    return MemoryStages(layers_per_sequence=cfg.num_layers * per_layer + final_norm,
                        logits_per_sequence=per_logit * seq * cfg.vocab_size, weight_copies=copies)


def flops_per_token(cfg: ConfigLike) -> float:
    """6 N + 12 L d T per token (PaLM appendix B, as nanoGPT counts MFU): N without the position
    embedding (a lookup), the last term the attention scores and their weighted sum, forward and backward.
    Norms, activations, rotations and biases' adds are elementwise and left out, as in that convention."""
    position_embedding = cfg.seq_length * cfg.hidden_dim if cfg.position_encoding == "learned" else 0
    return 6.0 * (param_counts(cfg).total - position_embedding) + 12.0 * cfg.num_layers * cfg.hidden_dim * cfg.seq_length
