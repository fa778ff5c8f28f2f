"""The torch module of the GPT-style decoder: pre-norm blocks, learned positions, tied or untied head."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from scaling_laws.models.architecture import ConfigLike


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ConfigLike):
        super().__init__()
        self.num_heads = cfg.num_heads
        self.qkv = nn.Linear(cfg.hidden_dim, 3 * cfg.hidden_dim, bias=False)
        self.proj = nn.Linear(cfg.hidden_dim, cfg.hidden_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, width = x.shape
        q, k, v = self.qkv(x).view(batch, seq, 3, self.num_heads, width // self.num_heads).unbind(2)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                             is_causal=True)
        return self.proj(out.transpose(1, 2).reshape(batch, seq, width))


class MLP(nn.Module):
    def __init__(self, cfg: ConfigLike):
        super().__init__()
        self.activation = cfg.activation
        inner = 2 * cfg.ffn_dim if cfg.activation == "swiglu" else cfg.ffn_dim  # swiglu: gate and up fused
        self.up = nn.Linear(cfg.hidden_dim, inner, bias=False)
        self.down = nn.Linear(cfg.ffn_dim, cfg.hidden_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.up(x)
        if self.activation == "swiglu":
            gate, up = hidden.chunk(2, dim=-1)
            hidden = F.silu(gate) * up
        else:
            hidden = F.gelu(hidden) if self.activation == "gelu" else F.relu(hidden)
        return self.down(hidden)


class Block(nn.Module):
    """Pre-norm residual block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: ConfigLike):
        super().__init__()
        self.ln_attn, self.attn = nn.LayerNorm(cfg.hidden_dim), CausalSelfAttention(cfg)
        self.ln_mlp, self.mlp = nn.LayerNorm(cfg.hidden_dim), MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_attn(x))
        return x + self.mlp(self.ln_mlp(x))


class TransformerLM(nn.Module):
    """GPT-style decoder with learned positions; ``forward(tokens) -> logits``."""

    def __init__(self, cfg: ConfigLike):
        super().__init__()
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.hidden_dim)
        self.position_embedding = nn.Embedding(cfg.seq_length, cfg.hidden_dim)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))
        self.ln_final = nn.LayerNorm(cfg.hidden_dim)
        self.head = None if cfg.tie_embeddings else nn.Linear(cfg.hidden_dim, cfg.vocab_size, bias=False)
        self._init_weights(cfg.num_layers)

    def _init_weights(self, num_layers: int) -> None:
        # GPT-2 init: N(0, 0.02), residual output projections scaled by 1/sqrt(2L) so the
        # residual stream's variance does not grow with depth.
        for name, param in self.named_parameters():
            if param.dim() >= 2:
                std = 0.02 / math.sqrt(2 * num_layers) if name.endswith(("proj.weight", "down.weight")) else 0.02
                nn.init.normal_(param, mean=0.0, std=std)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.token_embedding(tokens) + self.position_embedding(positions)
        for block in self.blocks:
            x = block(x)
        x = self.ln_final(x)
        return x @ self.token_embedding.weight.T if self.head is None else self.head(x)
