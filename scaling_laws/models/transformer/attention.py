"""Causal multi-head self-attention (rotary positions applied here when chosen)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from scaling_laws.models import mup
from scaling_laws.models.architecture import ConfigLike
from scaling_laws.models.transformer.positions import Rotary


def attention_scale(cfg: ConfigLike, head_dim: int) -> float:
    """Multiplier of q.k before the softmax: 1/sqrt(head_dim) (Vaswani et al. 2017); under muP 1/head_dim,
    equal to it at the base width (models/mup.py)."""
    return mup.attention_scale(cfg, head_dim)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ConfigLike):
        super().__init__()
        self.num_heads = cfg.num_heads
        head_dim = cfg.hidden_dim // cfg.num_heads
        self.scale = attention_scale(cfg, head_dim)
        self.dropout = cfg.attention_dropout  # on the attention probabilities, in training only
        self.qkv = nn.Linear(cfg.hidden_dim, 3 * cfg.hidden_dim, bias=cfg.bias)
        self.proj = nn.Linear(cfg.hidden_dim, cfg.hidden_dim, bias=cfg.bias)
        self.rotary = Rotary(cfg.seq_length, head_dim) if cfg.position_encoding == "rotary" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, width = x.shape
        q, k, v = (t.transpose(1, 2) for t in
                   self.qkv(x).view(batch, seq, 3, self.num_heads, width // self.num_heads).unbind(2))
        if self.rotary is not None:
            q, k = self.rotary(q), self.rotary(k)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale,
                                             dropout_p=self.dropout if self.training else 0.0)
        return self.proj(out.transpose(1, 2).reshape(batch, seq, width))
