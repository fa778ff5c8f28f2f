"""Text tables for ``experiments.py --list``: studies, and the experiments of one study."""
from __future__ import annotations

from typing import Callable

from config import validate_experiment
from model_size import chinchilla_flops, param_counts
from run_status import run_status


def format_study_list(studies: dict[str, Callable[[], list[dict]]]) -> str:
    lines = [f"{'study':<26} {'runs':>5} {'params (min..max)':>22} {'total FLOPs':>12}"]
    for name, build in sorted(studies.items()):
        configs = [validate_experiment(exp) for exp in build()]
        sizes = [param_counts(cfg).total for cfg in configs]
        flops = sum(chinchilla_flops(param_counts(cfg).total, cfg.max_tokens_training) for cfg in configs)
        lines.append(f"{name:<26} {len(configs):>5} {_si(min(sizes)) + '..' + _si(max(sizes)):>22} {flops:>12.2e}")
    return "\n".join(lines)


def format_study_table(experiments: list[dict]) -> str:
    header = (f"{'index':>5}  {'label':<24} {'params':>8} {'tokens':>8} {'FLOPs':>9} "
              f"{'micro x accum':>13}  status")
    lines = [header]
    for index, exp in enumerate(experiments):
        cfg = validate_experiment(exp)
        total = param_counts(cfg).total
        batching = f"{cfg.batch_size} x {cfg.gradient_accumulation_steps}"
        lines.append(f"{index:>5}  {cfg.label:<24} {_si(total):>8} {_si(cfg.max_tokens_training):>8} "
                     f"{chinchilla_flops(total, cfg.max_tokens_training):>9.2e} {batching:>13}  "
                     f"{run_status(cfg.folder_name, cfg.label)}")
    return "\n".join(lines)


def _si(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"
