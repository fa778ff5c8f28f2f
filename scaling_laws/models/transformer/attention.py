"""Causal multi-head self-attention."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from scaling_laws.models.architecture import ConfigLike


def attention_scale(head_dim: int) -> float:
    """Multiplier of q.k before the softmax: 1/sqrt(head_dim) (Vaswani et al. 2017). muP uses 1/head_dim."""
    return 1.0 / math.sqrt(head_dim)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ConfigLike):
        super().__init__()
        self.num_heads = cfg.num_heads
        self.scale = attention_scale(cfg.hidden_dim // cfg.num_heads)
        self.qkv = nn.Linear(cfg.hidden_dim, 3 * cfg.hidden_dim, bias=False)
        self.proj = nn.Linear(cfg.hidden_dim, cfg.hidden_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, width = x.shape
        q, k, v = self.qkv(x).view(batch, seq, 3, self.num_heads, width // self.num_heads).unbind(2)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                             is_causal=True, scale=self.scale)
        return self.proj(out.transpose(1, 2).reshape(batch, seq, width))
