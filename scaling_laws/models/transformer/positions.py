"""How the decoder sees token positions: a learned table added to the token embedding."""
from __future__ import annotations

import torch
import torch.nn as nn


class LearnedPositions(nn.Embedding):
    """Learned absolute positions (GPT-2): a seq_length x d table added to the input. An ``nn.Embedding``
    (so it counts as embedding) whose ``forward`` adds the rows for positions 0..T-1 to ``x``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(x.shape[1], device=x.device)
        return x + super().forward(positions)
