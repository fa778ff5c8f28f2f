"""The optimizer (built from the registry in optimizers.py) and the step count; the learning-rate
schedules are schedules.py (re-exported here as ``get_lr``)."""
from __future__ import annotations

import math
from typing import Any

import torch

from scaling_laws.config import ExperimentConfig
from scaling_laws.training import optimizers
from scaling_laws.training.schedules import get_lr

__all__ = ["build_optimizer", "clipped_step", "get_lr", "total_optimizer_steps"]


def build_optimizer(param_groups: list[dict[str, Any]], cfg: ExperimentConfig,
                    device: torch.device) -> torch.optim.Optimizer:
    """``cfg.optimizer`` over the parametrization's groups (models/parametrization.py); fused kernels on CUDA
    where torch has them."""
    return optimizers.build(param_groups, cfg, device)


def total_optimizer_steps(cfg: ExperimentConfig) -> int:
    """Steps needed for tokens_processed to reach max_tokens_training (a step is the global batch)."""
    return math.ceil(cfg.max_tokens_training / cfg.tokens_per_step)


def clipped_step(optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter], max_norm: float) -> torch.Tensor:
    """Clip the gradients' global norm to ``max_norm`` (0: no clipping) and step; returns the norm before
    clipping, a device tensor. A fused optimizer (CUDA) applies the clip inside its kernel, dividing every
    gradient by its ``grad_scale`` = max(norm / max_norm, 1) as it reads it, which saves a pass over the
    gradients; otherwise they are scaled first, exactly as ``clip_grad_norm_`` does."""
    norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
    if max_norm > 0 and optimizer.defaults.get("fused"):
        optimizer.grad_scale = torch.clamp((norm + 1e-6) / max_norm, min=1.0)
    elif max_norm > 0:
        torch.nn.utils.clip_grads_with_norm_(params, max_norm, norm)
    optimizer.step()
    return norm
