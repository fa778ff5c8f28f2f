"""How a parametrization assigns each parameter its optimizer group: weight decay and a learning-rate
multiplier. The training loop sets every group's lr to ``schedule(step) x group["lr_multiplier"]``.

Standard parametrization (today's only one): decay on matrices, none on norms and biases, every
multiplier 1. muP and CompleteP plug in here with per-group multipliers (and their own init).
"""
from __future__ import annotations

from typing import Any

import torch.nn as nn

from scaling_laws.models.architecture import ConfigLike


def param_groups(model: nn.Module, cfg: ConfigLike) -> list[dict[str, Any]]:
    """Optimizer groups for ``model``: ``params``, ``weight_decay``, ``lr_multiplier`` and a ``name``."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"name": "matrices", "params": [p for p in params if p.dim() >= 2],
             "weight_decay": cfg.weight_decay, "lr_multiplier": 1.0},
            {"name": "vectors", "params": [p for p in params if p.dim() < 2],
             "weight_decay": 0.0, "lr_multiplier": 1.0}]
