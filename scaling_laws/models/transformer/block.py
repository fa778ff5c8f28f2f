"""One residual block of the decoder."""
from __future__ import annotations

import torch
import torch.nn as nn

from scaling_laws.models.architecture import ConfigLike
from scaling_laws.models.transformer.attention import CausalSelfAttention
from scaling_laws.models.transformer.mlp import MLP
from scaling_laws.models.transformer.norms import make_norm


def residual_branch(branch_out: torch.Tensor) -> torch.Tensor:
    """What a branch adds to the residual stream (identity; depth-muP/CompleteP scale it here)."""
    return branch_out


class Block(nn.Module):
    """Pre-norm residual block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: ConfigLike):
        super().__init__()
        self.ln_attn, self.attn = make_norm(cfg), CausalSelfAttention(cfg)
        self.ln_mlp, self.mlp = make_norm(cfg), MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + residual_branch(self.attn(self.ln_attn(x)))
        return x + residual_branch(self.mlp(self.ln_mlp(x)))
