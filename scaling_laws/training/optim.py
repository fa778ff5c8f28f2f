"""The optimizer and the learning-rate schedule. The schedule is a pure function of the step, so a
resumed run needs no scheduler state."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from scaling_laws.config import ExperimentConfig


def build_optimizer(model: nn.Module, cfg: ExperimentConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only; fused kernels on CUDA."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps,
                             fused=device.type == "cuda")


def total_optimizer_steps(cfg: ExperimentConfig, world_size: int) -> int:
    """Steps needed for tokens_processed to reach max_tokens_training."""
    return math.ceil(cfg.max_tokens_training / (cfg.tokens_per_step * world_size))


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
