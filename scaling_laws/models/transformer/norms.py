"""Normalisation layers of the decoder, made by one factory keyed by ``cfg.norm`` (counts.py counts them)."""
from __future__ import annotations

import torch.nn as nn

from scaling_laws.models.architecture import ConfigLike

NORM_EPS = 1e-5  # torch's LayerNorm default, used for RMSNorm too

NORMS = {
    "layernorm": lambda width: nn.LayerNorm(width, eps=NORM_EPS),  # scale and bias: 2d parameters
    "layernorm_nobias": lambda width: nn.LayerNorm(width, eps=NORM_EPS, bias=False),  # scale: nanoGPT bias=False
    "rmsnorm": lambda width: nn.RMSNorm(width, eps=NORM_EPS),  # scale only: d parameters
    "none": lambda width: nn.Identity(),
}


def make_norm(cfg: ConfigLike) -> nn.Module:
    """The normalisation of the residual stream named by ``cfg.norm``."""
    return NORMS[cfg.norm](cfg.hidden_dim)
