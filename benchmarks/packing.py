"""Packing tiny runs on one GPU: aggregate tokens/s of K training processes side by side, K = 1, 4, 8.

    python benchmarks/packing.py [--width 64] [--ks 1 4 8] [--steps 300]

Each worker is what ``experiments.py STUDY --all --per-gpu K`` starts: its own process training
the framework's Trainer on a tiny byte-level model (default width 64, seq 256, 32 sequences a step,
compiled on CUDA). Workers warm up, then time their steps; the aggregate is the sum of their
steady tokens/s, printed beside K = 1 as a ratio.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def worker(width: int, steps: int, seed: int) -> None:
    sys.path.insert(0, str(ROOT))
    import torch
    from core import Trainer
    from experiment_utils import gen_experim
    from scaling_laws.training.distributed import DistContext
    from scaling_laws.validate import validate_experiment

    cfg = validate_experiment(gen_experim(width, folder_name="packing", seq_length=256, target_effective_batch_size=32,
                                          batch_size=32, max_tokens_training=10**9, model_seed=seed)[0])
    trainer = Trainer(cfg, DistContext())
    for step in range(30):  # warm-up and compilation
        trainer.train_step(trainer.step_batches(step), 1e-3)
    torch.cuda.synchronize()
    started = time.perf_counter()
    for step in range(30, 30 + steps):
        trainer.train_step(trainer.step_batches(step), 1e-3)
    torch.cuda.synchronize()
    print(f"TOKENS_PER_S {steps * cfg.tokens_per_step / (time.perf_counter() - started):.1f}", flush=True)


def aggregate(k: int, width: int, steps: int) -> float:
    workers = [subprocess.Popen([sys.executable, __file__, "--worker", "--width", str(width), "--steps", str(steps),
                                 "--seed", str(seed)], stdout=subprocess.PIPE, text=True) for seed in range(k)]
    rates = [float(line.split()[1]) for w in workers for line in w.communicate()[0].splitlines()
             if line.startswith("TOKENS_PER_S")]
    if len(rates) != k:
        raise RuntimeError(f"{k - len(rates)} of {k} workers failed")
    return sum(rates)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.worker:
        return worker(args.width, args.steps, args.seed)
    print(f"width {args.width}, seq 256, 32 sequences a step; steady tokens/s summed over K processes on one GPU")
    print(f"{'K':>3} {'aggregate tokens/s':>19} {'vs K=1':>7}")
    base = None
    for k in args.ks:
        total = aggregate(k, args.width, args.steps)
        base = base or total
        print(f"{k:>3} {total:>19.3e} {total / base:>6.2f}x", flush=True)


if __name__ == "__main__":
    main()
