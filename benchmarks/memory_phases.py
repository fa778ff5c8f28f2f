"""Peak GPU memory of each optimizer step, and what is allocated when its update starts, for rows of
memory_estimate.py.

    SCALING_DATA_CACHE=/tmp/dc python3 benchmarks/memory_phases.py "d512L8s1024b8 V50k compiled" ...

Shows in which step a run's peak falls (CUDA-graph warm-up and capture come first) and what is allocated when
the optimizer runs: the evidence behind the CUDA-graph rules of scaling_laws/models/memory.py (docs/memory.md).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STEPS = 6
GIB = 2**30


def phases(label: str, overrides: dict) -> list[str]:
    """One line per step: its peak, what is allocated after it, and around its optimizer update."""
    import torch
    from core import Trainer
    from memory_estimate import experiment, release
    from scaling_laws.models.memory import estimate
    from scaling_laws.training.distributed import DistContext

    release()
    cfg = experiment(label, overrides)
    trainer = Trainer(cfg, DistContext())
    update = trainer.optimizer.step
    seen = {}

    def observed_step(*args, **kwargs):
        seen["before_update"] = torch.cuda.memory_allocated()
        return update(*args, **kwargs)

    trainer.optimizer.step = observed_step
    lines = [f"{label}: predicted peak {estimate(cfg).peak_allocated / GIB:.3f} GiB, graphs {trainer.cuda_graphs}"]
    for step in range(STEPS):
        torch.cuda.reset_peak_memory_stats()
        trainer.train_step(trainer.step_batches(step), 1e-4, step)
        torch.cuda.synchronize()
        lines.append(f"  step {step}: peak {torch.cuda.max_memory_allocated() / GIB:.3f}  after "
                     f"{torch.cuda.memory_allocated() / GIB:.3f}  at update {seen['before_update'] / GIB:.3f}  "
                     f"reserved {torch.cuda.memory_reserved() / GIB:.3f} GiB")
    del trainer
    release()
    return lines


def main() -> None:
    from memory_estimate import CONFIGS

    parser = argparse.ArgumentParser()
    parser.add_argument("labels", nargs="+", help="row labels of memory_estimate.CONFIGS")
    rows = dict(CONFIGS)
    for label in parser.parse_args().labels:
        print("\n".join(phases(label, rows[label])), flush=True)


if __name__ == "__main__":
    main()
