"""The position-wise MLP and its activations."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from scaling_laws.models.architecture import ConfigLike

GATED = ("swiglu",)  # activations whose up projection makes a gate and a value (three matrices in all)


def activate(name: str, hidden: torch.Tensor) -> torch.Tensor:
    """The MLP nonlinearity; gated ones halve the width (gate and value fused in ``hidden``)."""
    if name == "swiglu":
        gate, up = hidden.chunk(2, dim=-1)
        return F.silu(gate) * up
    return F.gelu(hidden) if name == "gelu" else F.relu(hidden)


class MLP(nn.Module):
    def __init__(self, cfg: ConfigLike):
        super().__init__()
        self.activation = cfg.activation
        inner = 2 * cfg.ffn_dim if cfg.activation in GATED else cfg.ffn_dim  # gate and up fused
        self.up = nn.Linear(cfg.hidden_dim, inner, bias=False)
        self.down = nn.Linear(cfg.ffn_dim, cfg.hidden_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(activate(self.activation, self.up(x)))
