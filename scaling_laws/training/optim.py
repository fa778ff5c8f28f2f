"""The optimizer and the learning-rate schedule. The schedule is a pure function of the step, so a
resumed run needs no scheduler state."""
from __future__ import annotations

import math
from typing import Any

import torch

from scaling_laws.config import ExperimentConfig


def build_optimizer(param_groups: list[dict[str, Any]], cfg: ExperimentConfig,
                    device: torch.device) -> torch.optim.AdamW:
    """AdamW over the parametrization's groups (models/parametrization.py); fused kernels on CUDA."""
    return torch.optim.AdamW(param_groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps,
                             fused=device.type == "cuda")


def total_optimizer_steps(cfg: ExperimentConfig) -> int:
    """Steps needed for tokens_processed to reach max_tokens_training (a step is the global batch)."""
    return math.ceil(cfg.max_tokens_training / cfg.tokens_per_step)


def get_lr(step: int, cfg: ExperimentConfig, total_steps: int) -> float:
    """Learning rate for 0-based ``step``: linear warmup, then decay to min_lr_ratio x peak."""
    warmup_steps = round(cfg.warmup_fraction * total_steps)
    if step < warmup_steps:
        return cfg.learning_rate * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    decay = {"cosine": 0.5 * (1 + math.cos(math.pi * progress)),
             "linear": 1 - progress,
             "constant": 1.0}[cfg.lr_schedule]
    return cfg.learning_rate * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * decay)
