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
from scaling_laws.models.architecture import Architecture, ConfigLike

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


def activation_bytes_per_sequence(cfg: ConfigLike) -> int:
    """What training keeps per token, counted in fp32 (an upper bound under autocast): per layer the input, the
    four gates and the cell and hidden states (7 d, as cuDNN's reserve space holds them); the embedding and
    LayerNorm outputs (3 d); the fp32 logits and their gradient (2 x 4 V)."""
    d, seq = cfg.hidden_dim, cfg.seq_length
    return 4 * seq * (cfg.num_layers * 7 * d + 3 * d) + 2 * 4 * seq * cfg.vocab_size


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
                            default_shape=default_shape, check=check,
                            options={"tie_embeddings": (True, False)}, flops_per_token=flops_per_token)
