"""The LSTM language model: its parameter count, activation memory, default shape and checks.

Pure arithmetic on the config, like the transformer's rules, so defining a study needs no torch;
the torch module (model.py) is imported only when a model is built. The LSTM reads hidden_dim,
num_layers, vocab_size and tie_embeddings; num_heads, ffn_dim and activation do not apply to it
(gen_experim sets them to 1, hidden_dim and the default, and nothing reads them).
"""
from __future__ import annotations

from typing import Any, Mapping

from scaling_laws.config import DROPOUT_FIELDS, ConfigError, defaults
from scaling_laws.counting import ParamCounts
from scaling_laws.models.architecture import EAGER_LOGIT_BYTES, Architecture, ConfigLike, MemoryStages

# Depth rule: 2 layers at every width, as the original tool trained them (Kaplan et al. 2020 fig. 7 compares
# 1-, 2- and 4-layer LSTMs); width alone sets the size, so matching a transformer's non-embedding count is one
# square root (lstm_model.lstm_width_for).
DEFAULT_NUM_LAYERS = 2
# The transformer's building-block fields: the LSTM reads none of them, so they must keep their defaults.
TRANSFORMER_ONLY = ("norm", "norm_placement", "position_encoding", "bias", "init_scheme",
                    "scale_embeddings") + DROPOUT_FIELDS


def layer_params(width: int) -> int:
    """One torch.nn.LSTM layer with input width = hidden width d: four gates, each an input and a recurrent
    d x d matrix and two biases (cuDNN's layout): 8 d^2 + 8 d."""
    return 4 * (2 * width * width + 2 * width)


def param_counts(cfg: ConfigLike) -> ParamCounts:
    """Embedding, num_layers LSTM layers, the final LayerNorm (2d), an untied readout if asked for."""
    d = cfg.hidden_dim
    non_embedding = cfg.num_layers * layer_params(d) + 2 * d
    readout = 0 if cfg.tie_embeddings else cfg.vocab_size * d
    return ParamCounts(total=non_embedding + cfg.vocab_size * d + readout, non_embedding=non_embedding)


# Per token, in fp32 (the recurrence runs in fp32 under autocast too, model.py): each layer keeps 7 d (cuDNN's
# reserve space: its input, the four gates, the cell and hidden states), and the rest of the step 8 d at its peak
# (the embedding output, the LayerNorm's input and output, the gradients of the recurrence's output and input).
# cuDNN's backward computes the weight gradients last, while the reserve space is alive, into its own flat
# buffer besides .grad: the gradients add to the activations at the peak (MemoryStages.gradients_with_activations),
# and so does that buffer (4 B per recurrent parameter, counted with the weight copies). Compiled, the readout
# and loss are a graph of their own after the recurrence, keeping the logits and their gradient in the
# activation dtype (2 elements per logit). The widths are the integers that fit 11 H200 rows best (largest
# error 6.4%, none under by more than 3.8%; benchmarks/memory_estimate.py --only lstm, docs/memory.md).
LAYER_WIDTHS_PER_TOKEN = 7
OUTSIDE_WIDTHS_PER_TOKEN = 8
COMPILED_LOGIT_ELEMENTS = 2


def activation_bytes_per_sequence(cfg: ConfigLike) -> int:
    """What training keeps per sequence: the recurrence's layers and the rest (LAYER_/OUTSIDE_WIDTHS_PER_TOKEN,
    fp32), and the loss's EAGER_LOGIT_BYTES per logit."""
    stages = memory_stages(cfg, None)
    return stages.layers_per_sequence + stages.logits_per_sequence


def memory_stages(cfg: ConfigLike, precision) -> MemoryStages:
    """The step's activations per sequence (precision None: eager, fp32), and the per-model buffers alive with
    them: under bf16 autocast the readout's 16-bit copy of its V x d matrix, and cuDNN's weight-gradient buffer."""
    d, seq = cfg.hidden_dim, cfg.seq_length
    layers = 4 * seq * d * (cfg.num_layers * LAYER_WIDTHS_PER_TOKEN + OUTSIDE_WIDTHS_PER_TOKEN)
    sixteen_bit = precision is not None and precision.activation_bytes == 2
    compiled = precision is not None and precision.compiled
    per_logit = COMPILED_LOGIT_ELEMENTS * precision.activation_bytes if compiled else EAGER_LOGIT_BYTES
    readout_copy = 2 * cfg.vocab_size * d if sixteen_bit else 0
    gradient_buffer = 4 * cfg.num_layers * layer_params(d)
    return MemoryStages(layers_per_sequence=layers, logits_per_sequence=per_logit * seq * cfg.vocab_size,
                        weight_copies=readout_copy + gradient_buffer, gradients_with_activations=True)


def flops_per_token(cfg: ConfigLike) -> float:
    """6 x (non-embedding + readout V d) per token: every LSTM weight is used once per token in a
    matrix product (2 FLOPs per multiply-add, x3 for forward and backward); there is no attention term."""
    return 6.0 * (param_counts(cfg).non_embedding + cfg.vocab_size * cfg.hidden_dim)


def default_shape(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {"num_layers": DEFAULT_NUM_LAYERS, "num_heads": 1, "ffn_dim": fields["hidden_dim"]}


def check(cfg: ConfigLike) -> None:
    if cfg.activation != "gelu":
        raise ConfigError(f"activation={cfg.activation!r} does not apply to architecture='lstm' (its gates are "
                          "fixed sigmoid/tanh); remove activation")
    default = defaults()
    for name in TRANSFORMER_ONLY:
        if getattr(cfg, name) != default[name]:
            raise ConfigError(f"{name}={getattr(cfg, name)!r} does not apply to architecture='lstm' (a transformer "
                              f"building block); remove {name}")


def build(cfg: ConfigLike):
    from scaling_laws.models.lstm.model import LSTMLM

    return LSTMLM(cfg)


ARCHITECTURE = Architecture(name="lstm", build=build, param_counts=param_counts,
                            activation_bytes_per_sequence=activation_bytes_per_sequence,
                            memory_stages=memory_stages, default_shape=default_shape, check=check,
                            options={"tie_embeddings": (True, False)}, flops_per_token=flops_per_token)
