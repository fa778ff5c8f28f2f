"""Weight initialisation of the decoder."""
from __future__ import annotations

import math

import torch.nn as nn

from scaling_laws.models.architecture import ConfigLike

RESIDUAL_OUTPUTS = ("proj.weight", "down.weight")  # the matrices that write into the residual stream


def init_std(name: str, cfg: ConfigLike) -> float:
    """GPT-2 init: N(0, 0.02), residual output projections scaled by 1/sqrt(2L) so the residual
    stream's variance does not grow with depth."""
    return 0.02 / math.sqrt(2 * cfg.num_layers) if name.endswith(RESIDUAL_OUTPUTS) else 0.02


def init_weights(model: nn.Module, cfg: ConfigLike) -> None:
    """Every matrix (and embedding) drawn from N(0, init_std); vectors keep torch's init."""
    for name, param in model.named_parameters():
        if param.dim() >= 2:
            nn.init.normal_(param, mean=0.0, std=init_std(name, cfg))
