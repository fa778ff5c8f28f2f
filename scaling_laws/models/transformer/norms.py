"""Normalisation layers of the decoder, made by one factory."""
from __future__ import annotations

import torch.nn as nn

from scaling_laws.models.architecture import ConfigLike


def make_norm(cfg: ConfigLike) -> nn.Module:
    """The normalisation of the residual stream: LayerNorm with bias (2d parameters)."""
    return nn.LayerNorm(cfg.hidden_dim)
