"""One residual block of the decoder, pre-norm or post-norm (``cfg.norm_placement``)."""
from __future__ import annotations

import torch
import torch.nn as nn

from scaling_laws.models import mup
from scaling_laws.models.architecture import ConfigLike
from scaling_laws.models.transformer.attention import CausalSelfAttention
from scaling_laws.models.transformer.mlp import MLP
from scaling_laws.models.transformer.norms import make_norm


def residual_branch(branch_out: torch.Tensor, multiplier: float) -> torch.Tensor:
    """What a branch adds to the residual stream: its output x (base_depth / depth)^alpha, 1 unless
    CompleteP / depth-muP (models/mup.py), where a plain float keeps torch.compile's graph static."""
    return branch_out if multiplier == 1.0 else branch_out * multiplier


class Block(nn.Module):
    """Pre-norm: x + f(norm(x)) for f = attention, then MLP (GPT-2). Post-norm: norm(x + f(x)) (Vaswani et
    al. 2017). Each branch's output passes residual dropout before it is added."""

    def __init__(self, cfg: ConfigLike):
        super().__init__()
        self.pre_norm = cfg.norm_placement == "pre"
        self.ln_attn, self.attn = make_norm(cfg), CausalSelfAttention(cfg)
        self.ln_mlp, self.mlp = make_norm(cfg), MLP(cfg)
        self.dropout = nn.Dropout(cfg.residual_dropout)
        self.residual_multiplier = mup.residual_multiplier(cfg)

    def branch(self, out: torch.Tensor) -> torch.Tensor:
        return residual_branch(self.dropout(out), self.residual_multiplier)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.branch
        if self.pre_norm:
            x = x + branch(self.attn(self.ln_attn(x)))
            return x + branch(self.mlp(self.ln_mlp(x)))
        x = self.ln_attn(x + branch(self.attn(x)))
        return self.ln_mlp(x + branch(self.mlp(x)))
