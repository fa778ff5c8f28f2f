"""The torch module of the GPT-style decoder: embedding, positions, blocks, final norm, tied or untied head."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from scaling_laws.models import mup
from scaling_laws.models.architecture import ConfigLike
from scaling_laws.models.transformer.block import Block
from scaling_laws.models.transformer.init import init_weights
from scaling_laws.models.transformer.norms import make_norm
from scaling_laws.models.transformer.positions import make_input_positions


def readout(x: torch.Tensor, token_embedding: nn.Embedding, head: nn.Linear | None, multiplier: float) -> torch.Tensor:
    """Logits from the final hidden states: the tied embedding or the untied head, times muP's output
    multiplier (1 otherwise; applied to the d-wide input, cheaper than to the logits, and the same product)."""
    x = x if multiplier == 1.0 else x * multiplier
    return x @ token_embedding.weight.T if head is None else head(x)


class TransformerLM(nn.Module):
    """GPT-style decoder; ``forward(tokens) -> logits``. Its building blocks follow the config's fields
    (norm, norm_placement, position_encoding, activation, bias, init_scheme, dropouts)."""

    def __init__(self, cfg: ConfigLike):
        super().__init__()
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.hidden_dim)
        self.position_embedding = make_input_positions(cfg)
        self.embedding_dropout = nn.Dropout(cfg.embedding_dropout)
        self.embedding_scale = math.sqrt(cfg.hidden_dim) if cfg.scale_embeddings else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))
        # Post-norm blocks end normalised already (Vaswani et al. 2017 has no final norm).
        self.ln_final = make_norm(cfg) if cfg.norm_placement == "pre" else nn.Identity()
        self.head = None if cfg.tie_embeddings else nn.Linear(cfg.hidden_dim, cfg.vocab_size, bias=cfg.bias)
        self.logit_multiplier = mup.logit_multiplier(cfg)
        init_weights(self, cfg)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.token_embedding(tokens)
        if self.embedding_scale is not None:
            x = x * self.embedding_scale
        x = self.embedding_dropout(self.position_embedding(x))
        for block in self.blocks:
            x = block(x)
        return readout(self.ln_final(x), self.token_embedding, self.head, self.logit_multiplier)
