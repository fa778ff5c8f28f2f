"""How the decoder sees token positions, keyed by ``cfg.position_encoding``: a learned table or fixed
sinusoids added to the input (``make_input_positions``), or rotary, applied to q and k in attention."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from scaling_laws.models.architecture import ConfigLike

ROTARY_BASE = 10000.0  # Su et al. 2021, as GPT-NeoX and LLaMA


class LearnedPositions(nn.Embedding):
    """Learned absolute positions (GPT-2): a seq_length x d table added to the input. An ``nn.Embedding``
    (so it counts as embedding) whose ``forward`` adds the rows for positions 0..T-1 to ``x``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(x.shape[1], device=x.device)
        return x + super().forward(positions)


class SinusoidalPositions(nn.Module):
    """Vaswani et al. 2017 sec. 3.5: PE(p, 2i) = sin(p / 10000^(2i/d)), PE(p, 2i+1) = cos(...), added to the
    input. A buffer, not a parameter, and not saved: it is a function of the shape."""

    def __init__(self, seq_length: int, width: int):
        super().__init__()
        position = torch.arange(seq_length, dtype=torch.float32)[:, None]
        frequency = torch.exp(torch.arange(0, width, 2, dtype=torch.float32) * (-math.log(10000.0) / width))
        table = torch.zeros(seq_length, width)
        table[:, 0::2], table[:, 1::2] = torch.sin(position * frequency), torch.cos(position * frequency)
        self.register_buffer("table", table, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table[: x.shape[1]].to(x.dtype)


def make_input_positions(cfg: ConfigLike) -> nn.Module:
    """What the decoder adds to the token embedding: a learned table, sinusoids, or nothing (rotary)."""
    if cfg.position_encoding == "learned":
        return LearnedPositions(cfg.seq_length, cfg.hidden_dim)
    if cfg.position_encoding == "sinusoidal":
        return SinusoidalPositions(cfg.seq_length, cfg.hidden_dim)
    return nn.Identity()


class Rotary(nn.Module):
    """Rotary position embedding (Su et al. 2021) on (batch, heads, seq, head_dim) queries and keys, the
    half-split layout of GPT-NeoX: dimension i pairs with i + head_dim/2. No parameters."""

    def __init__(self, seq_length: int, head_dim: int):
        super().__init__()
        inverse_frequency = ROTARY_BASE ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        angles = torch.outer(torch.arange(seq_length, dtype=torch.float32), inverse_frequency)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.shape[-2]
        cos, sin = self.cos[:seq].to(x.dtype), self.sin[:seq].to(x.dtype)
        first, second = x.chunk(2, dim=-1)
        return torch.cat((first * cos - second * sin, first * sin + second * cos), dim=-1)
