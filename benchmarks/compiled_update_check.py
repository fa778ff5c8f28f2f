"""Does compiling the update (gradient clip + AdamW) speed up a step? Side by side, one run, CUDA.

    python benchmarks/compiled_update_check.py [--shapes d512 d1024] [--steps 60]

For each throughput.py shape it builds core.Trainer (compiled, CUDA graphs) and times whole steps twice on
the same batch: as Trainer.train_step runs them (eager clip_grad_norm_ + fused AdamW), and with the clip and
the optimizer step compiled together (torch.compile, learning rates held as device tensors so a new lr does
not recompile), then as Trainer runs them again, so a drift in clocks shows. Prints ms per step and the ratio.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.profile_step import per_step_ms  # noqa: E402
from benchmarks.throughput import random_token_dir, shape_config  # noqa: E402


def forward_backward(trainer, batches) -> None:
    import torch

    for inputs, targets in batches:
        if trainer.cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        objective, _ = trainer.train_loss(inputs, targets)
        (objective / len(batches)).backward()


def timed(step, steps: int) -> float:
    """ms per step after 10 steps of compilation and warm-up (profile_step.per_step_ms)."""
    for index in range(10):
        step(index)
    return per_step_ms(step, steps)


def compare(shape: str, steps: int, dataset: str) -> str:
    import torch
    from core import Trainer
    from scaling_laws.training.distributed import DistContext

    trainer = Trainer(shape_config(shape, steps + 10, dataset), DistContext())
    batches = [(i.to(trainer.device), t.to(trainer.device)) for i, t in trainer.step_batches(0)]
    params = list(trainer.raw_model.parameters())
    eager_ms = timed(lambda index: trainer.train_step(batches, 1e-4, index), steps)
    for group in trainer.optimizer.param_groups:
        group["lr"] = torch.tensor(1e-4 * group["lr_multiplier"], device=trainer.device)

    @torch.compile
    def update():
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        trainer.optimizer.step()

    def compiled_step(index):
        forward_backward(trainer, batches)
        for group in trainer.optimizer.param_groups:
            group["lr"].fill_(1e-4 * group["lr_multiplier"])
        update()
        trainer.optimizer.zero_grad(set_to_none=not (trainer.cuda_graphs and len(batches) > 1))

    compiled_ms = timed(compiled_step, steps)
    for group in trainer.optimizer.param_groups:
        group["lr"] = float(group["lr"])
    again_ms = timed(lambda index: trainer.train_step(batches, 1e-4, index), steps)
    return (f"{shape:<6} eager update {eager_ms:7.2f} ms (again {again_ms:7.2f})  compiled update "
            f"{compiled_ms:7.2f} ms  speed-up {min(eager_ms, again_ms) / compiled_ms:5.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shapes", nargs="+", default=["d512", "d1024"])
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    dataset = random_token_dir(4_000_000)
    for shape in args.shapes:
        print(compare(shape, args.steps, dataset), flush=True)


if __name__ == "__main__":
    main()
