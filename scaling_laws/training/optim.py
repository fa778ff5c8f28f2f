"""The optimizer (built from the registry in optimizers.py) and the step count; the learning-rate
schedules are schedules.py (re-exported here as ``get_lr``)."""
from __future__ import annotations

import math
from typing import Any

import torch

from scaling_laws.config import ExperimentConfig
from scaling_laws.training import optimizers
from scaling_laws.training.schedules import get_lr

__all__ = ["build_optimizer", "get_lr", "total_optimizer_steps"]


def build_optimizer(param_groups: list[dict[str, Any]], cfg: ExperimentConfig,
                    device: torch.device) -> torch.optim.Optimizer:
    """``cfg.optimizer`` over the parametrization's groups (models/parametrization.py); fused kernels on CUDA
    where torch has them."""
    return optimizers.build(param_groups, cfg, device)


def total_optimizer_steps(cfg: ExperimentConfig) -> int:
    """Steps needed for tokens_processed to reach max_tokens_training (a step is the global batch)."""
    return math.ceil(cfg.max_tokens_training / cfg.tokens_per_step)
