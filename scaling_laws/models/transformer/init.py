"""Weight initialisation of the decoder, keyed by ``cfg.init_scheme``.

Every scheme draws the parameters in the same order (named_parameters) from the global generator, which
build_model seeds with model_seed. Embeddings are N(0, 0.02) in every scheme but ``torch``; linear biases
start at zero, norms at torch's (scale 1, bias 0).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from scaling_laws.models import mup
from scaling_laws.models.architecture import ConfigLike

RESIDUAL_OUTPUTS = ("proj.weight", "down.weight")  # the matrices that write into the residual stream
EMBEDDINGS = ("token_embedding.weight", "position_embedding.weight")
BASE_STD = 0.02  # GPT-1/2 and BERT


def init_std(name: str, cfg: ConfigLike) -> float:
    """Standard deviation of matrix ``name`` under the normal schemes: ``scaled`` (GPT-2: 0.02, residual
    output projections / sqrt(2L), so the residual stream's variance does not grow with depth; L the base
    depth under CompleteP, whose branch multiplier handles depth), ``normal`` (GPT-1/BERT: 0.02 everywhere),
    ``small`` (Nguyen & Salazar 2019: sqrt(2 / (5 d))). muP's width factor on hidden matrices is applied
    after the build (parametrization.py)."""
    if cfg.init_scheme == "small":
        return math.sqrt(2 / (5 * cfg.hidden_dim))
    if cfg.init_scheme == "scaled" and name.endswith(RESIDUAL_OUTPUTS):
        return BASE_STD / math.sqrt(2 * mup.init_depth(cfg))
    return BASE_STD


def init_matrix(name: str, param: torch.Tensor, cfg: ConfigLike) -> None:
    if name.endswith("token_embedding.weight") and cfg.scale_embeddings:  # x sqrt(d) in the forward: rms 1
        nn.init.normal_(param, mean=0.0, std=cfg.hidden_dim ** -0.5)
    elif name.endswith(EMBEDDINGS) and cfg.init_scheme in ("xavier_uniform", "kaiming_normal"):
        nn.init.normal_(param, mean=0.0, std=BASE_STD)
    elif cfg.init_scheme == "xavier_uniform":  # Glorot & Bengio 2010: U(+-sqrt(6 / (fan_in + fan_out)))
        nn.init.xavier_uniform_(param)
    elif cfg.init_scheme == "kaiming_normal":  # He et al. 2015: N(0, 2 / fan_in)
        nn.init.kaiming_normal_(param, nonlinearity="relu")
    else:
        nn.init.normal_(param, mean=0.0, std=init_std(name, cfg))


def init_weights(model: nn.Module, cfg: ConfigLike) -> None:
    """Matrices (and embeddings) by the scheme, linear biases zero; ``torch`` keeps torch's own init."""
    if cfg.init_scheme == "torch":
        return
    for name, param in model.named_parameters():
        if param.dim() >= 2:
            init_matrix(name, param, cfg)
        elif name.endswith(".bias"):
            nn.init.zeros_(param)
