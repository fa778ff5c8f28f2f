"""The GPT-style decoder, registered through the architecture seam.

One concern per file: counts.py (parameters, activation memory, FLOPs) and shape.py (default shape,
checks) are pure arithmetic, so defining a study needs no torch; the torch pieces (norms, positions,
attention, mlp, block, init, model) are imported only when a model is built.
"""
from __future__ import annotations

from scaling_laws.config import ACTIVATIONS, NORM_PLACEMENTS, NORMS, POSITION_ENCODINGS
from scaling_laws.models.architecture import Architecture, ConfigLike
from scaling_laws.models.transformer.counts import activation_bytes_per_sequence, flops_per_token, memory_stages, \
    param_counts
from scaling_laws.models.transformer.shape import (check, default_ffn_dim, default_num_heads, default_num_layers,
                                                   default_shape)


def build(cfg: ConfigLike):
    from scaling_laws.models.transformer.model import TransformerLM

    return TransformerLM(cfg)


ARCHITECTURE = Architecture(name="transformer", build=build, param_counts=param_counts,
                            activation_bytes_per_sequence=activation_bytes_per_sequence,
                            default_shape=default_shape, check=check,
                            options={"activation": ACTIVATIONS, "tie_embeddings": (True, False), "norm": NORMS,
                                     "norm_placement": NORM_PLACEMENTS, "position_encoding": POSITION_ENCODINGS,
                                     "bias": (False, True)},
                            flops_per_token=flops_per_token, memory_stages=memory_stages, supports_mup=True)

__all__ = ["ARCHITECTURE", "activation_bytes_per_sequence", "build", "check", "default_ffn_dim",
           "default_num_heads", "default_num_layers", "default_shape", "flops_per_token", "memory_stages", "param_counts"]
