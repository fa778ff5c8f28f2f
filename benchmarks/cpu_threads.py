"""CPU threads: training throughput with 1 intra-op thread vs all available cores, per width.

    python benchmarks/cpu_threads.py [--widths 8 16 32 64 128] [--steps 60]

Prints tokens/s for each setting side by side and their ratio, measured in one run on the
DEMO settings (seq 64, 32 sequences per step).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from scaling_laws.validate import validate_experiment  # noqa: E402
from core import Trainer  # noqa: E402
from cpu_optimization_utils import available_cpus  # noqa: E402
from scaling_laws.training.distributed import DistContext  # noqa: E402
from experiment_definitions import DEMO_SETTINGS  # noqa: E402
from experiment_utils import gen_experim  # noqa: E402


def tokens_per_second(trainer: Trainer, threads: int, steps: int) -> float:
    torch.set_num_threads(threads)
    for step in range(5):  # warm-up
        trainer.train_step(trainer.step_batches(step), 1e-3, step)
    started = time.perf_counter()
    for step in range(steps):
        trainer.train_step(trainer.step_batches(step), 1e-3, step)
    return steps * trainer.cfg.tokens_per_step / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    cores = available_cpus()
    print(f"{'width':>6} {'1 thread tok/s':>15} {f'{cores} threads tok/s':>17} {'ratio':>6}")
    for width in args.widths:
        cfg = validate_experiment(gen_experim(width, folder_name="bench", device="cpu", **DEMO_SETTINGS)[0])
        trainer = Trainer(cfg, DistContext())
        one = tokens_per_second(trainer, 1, args.steps)
        many = tokens_per_second(trainer, cores, args.steps)
        print(f"{width:>6} {one:>15.0f} {many:>17.0f} {many / one:>6.2f}")


if __name__ == "__main__":
    main()
