"""Learning-rate schedules: each a pure function of (0-based step, total steps, config), so a resumed run
needs no scheduler state. ``SCHEDULES`` has one entry per name in config.LR_SCHEDULES (the schema validates ``lr_schedule``).

Warmup is ``warmup_steps = round(warmup_fraction x total_steps)`` optimizer steps (at least 1 for the
schedules that divide by it).
"""
from __future__ import annotations

import math
from typing import Any, Callable

ConfigLike = Any  # an ExperimentConfig, or anything with its field names
Schedule = Callable[[int, int, ConfigLike], float]
ONE_CYCLE_DIV_FACTOR = 25.0  # one_cycle starts at learning_rate / 25, as torch's OneCycleLR


def warmup_steps(cfg: ConfigLike, total_steps: int) -> int:
    return round(cfg.warmup_fraction * total_steps)


def _warmup_then(decay: Callable[[float], float]) -> Schedule:
    """Linear warmup from 0 to learning_rate, then ``decay(progress in [0, 1])`` down to min_lr_ratio."""
    def schedule(step: int, total_steps: int, cfg: ConfigLike) -> float:
        warmup = warmup_steps(cfg, total_steps)
        if step < warmup:
            return cfg.learning_rate * (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return cfg.learning_rate * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * decay(progress))
    return schedule


def inverse_sqrt(step: int, total_steps: int, cfg: ConfigLike) -> float:
    """Linear warmup to learning_rate over w steps, then learning_rate x sqrt(w / s), s = step + 1 (fairseq's
    inverse_sqrt). No floor: min_lr_ratio is not read."""
    warmup, s = max(1, warmup_steps(cfg, total_steps)), step + 1
    return cfg.learning_rate * min(s / warmup, math.sqrt(warmup / s))


def transformer(step: int, total_steps: int, cfg: ConfigLike) -> float:
    """Vaswani et al. 2017 eq. 3: lr = learning_rate x d^-0.5 x min(s^-0.5, s x w^-1.5), s = step + 1, d =
    hidden_dim. Here learning_rate is the schedule's factor (1.0 in the paper, tensor2tensor used 2.0), so
    the peak, at s = w, is learning_rate / sqrt(d w): it falls with width, as in the paper."""
    warmup, s = max(1, warmup_steps(cfg, total_steps)), step + 1
    return cfg.learning_rate * cfg.hidden_dim ** -0.5 * min(s ** -0.5, s * warmup ** -1.5)


def one_cycle(step: int, total_steps: int, cfg: ConfigLike) -> float:
    """Smith & Topin 2019 as torch's OneCycleLR (cosine phases): from learning_rate / 25 up to learning_rate
    over the warmup steps, then cosine down to min_lr_ratio x learning_rate at the last step. (torch's
    final_div_factor is min_lr_ratio here; momentum is not cycled.)"""
    warmup, peak = max(1, warmup_steps(cfg, total_steps)), cfg.learning_rate
    if step < warmup:
        start = peak / ONE_CYCLE_DIV_FACTOR
        return start + (peak - start) * (1 - math.cos(math.pi * (step + 1) / warmup)) / 2
    end = peak * cfg.min_lr_ratio
    progress = (step + 1 - warmup) / max(1, total_steps - warmup)
    return end + (peak - end) * (1 + math.cos(math.pi * progress)) / 2


SCHEDULES: dict[str, Schedule] = {
    "cosine": _warmup_then(lambda progress: 0.5 * (1 + math.cos(math.pi * progress))),
    "linear": _warmup_then(lambda progress: 1 - progress),
    "constant": _warmup_then(lambda progress: 1.0),
    "inverse_sqrt": inverse_sqrt,
    "transformer": transformer,
    "one_cycle": one_cycle,
}


def get_lr(step: int, cfg: ConfigLike, total_steps: int) -> float:
    """Learning rate for 0-based ``step`` under ``cfg.lr_schedule``."""
    return SCHEDULES[cfg.lr_schedule](step, total_steps, cfg)
