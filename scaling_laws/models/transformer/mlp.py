"""The position-wise MLP and its activations, keyed by ``cfg.activation``."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from scaling_laws.models.architecture import ConfigLike
from scaling_laws.models.transformer.shape import GATED_ACTIVATIONS

PLAIN = {"gelu": F.gelu, "relu": F.relu, "silu": F.silu}
# Gated linear units (Dauphin et al. 2017; Shazeer 2020): act(gate) * value, act applied to the gate.
GATES = {"swiglu": F.silu, "geglu": F.gelu, "glu": torch.sigmoid}
assert set(GATES) == set(GATED_ACTIVATIONS)


def activate(name: str, hidden: torch.Tensor) -> torch.Tensor:
    """The MLP nonlinearity; gated ones halve the width (gate and value fused in ``hidden``)."""
    if name in GATES:
        gate, up = hidden.chunk(2, dim=-1)
        return GATES[name](gate) * up
    return PLAIN[name](hidden)


class MLP(nn.Module):
    def __init__(self, cfg: ConfigLike):
        super().__init__()
        self.activation = cfg.activation
        inner = 2 * cfg.ffn_dim if cfg.activation in GATES else cfg.ffn_dim  # gate and up fused
        self.up = nn.Linear(cfg.hidden_dim, inner, bias=cfg.bias)
        self.down = nn.Linear(cfg.ffn_dim, cfg.hidden_dim, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(activate(self.activation, self.up(x)))
