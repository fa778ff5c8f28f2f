"""Where one training step's time goes, per part, at a throughput.py shape (CUDA).

    python benchmarks/profile_step.py [--shape d128] [--steps 50] [--trace-steps 10]

Builds core.Trainer at the shape, warms it up, then times, each over ``--steps`` steps with one
device sync at the end: the whole ``train_step`` as the loop runs it; forward + backward alone; the
gradient norm alone (the clip is applied inside the fused optimizer); the optimizer step alone. Then
profiles ``--trace-steps`` whole steps with torch.profiler: the top CUDA kernels, and the GPU-busy
fraction of the wall time (kernel time / wall time: well below 1 means the step waits on the host's
launches, not on the GPU).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.throughput import SEQ, random_token_dir, shape_config  # noqa: E402


def per_step_ms(fn, steps: int) -> float:
    import torch

    torch.cuda.synchronize()
    started = time.perf_counter()
    for step in range(steps):
        fn(step)
    torch.cuda.synchronize()
    return (time.perf_counter() - started) / steps * 1e3


def parts(trainer, batches, steps: int) -> dict[str, float]:
    """Milliseconds per step of the whole step and of each part on its own."""
    import torch

    inputs, targets = (t.to(trainer.device) for t in batches[0])
    params = trainer.parameters

    def forward_backward(_step):
        if trainer.cuda_graphs:  # each replay may reuse the last one's outputs, as in train_step
            torch.compiler.cudagraph_mark_step_begin()
        objective, _ = trainer.train_loss(inputs, targets)
        objective.backward()

    def grad_norm(_step):  # the step's own pass over the gradients; the clip itself is inside the optimizer
        torch.nn.utils.get_total_norm([p.grad for p in params])

    def optimizer(_step):
        trainer.optimizer.step()

    def whole(step):
        trainer.train_step(batches, 1e-4, step)

    forward_backward(0)  # gradients exist for the parts that need them
    return {"whole train_step": per_step_ms(whole, steps), "forward+backward": per_step_ms(forward_backward, steps),
            "grad norm": per_step_ms(grad_norm, steps), "optimizer.step": per_step_ms(optimizer, steps)}


def trace(trainer, batches, steps: int, rows: int = 18, find: str = "") -> None:
    import torch
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    started = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=bool(find)) as prof:
        for step in range(steps):
            trainer.train_step(batches, 1e-4, step)
        torch.cuda.synchronize()
    wall_us = (time.perf_counter() - started) * 1e6
    kernels = [e for e in prof.key_averages() if e.device_type.name == "CUDA"]
    busy_us = sum(e.self_device_time_total for e in kernels)
    print(f"GPU busy {busy_us / wall_us:.0%} of the wall time ({busy_us / steps / 1e3:.2f} of "
          f"{wall_us / steps / 1e3:.2f} ms per step, profiler on); CUDA kernel launches per step: "
          f"{sum(e.count for e in kernels) / steps:.0f}")
    print(prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=rows, max_name_column_width=90))
    if find:  # the host ops named so, by input shapes (launched ops only: under CUDA graphs a replay has none)
        for event in prof.key_averages(group_by_input_shape=True):
            if find in event.key:
                print(f"{event.key} x{event.count / steps:g} per step, {event.device_time_total / steps / 1e3:.3f} "
                      f"ms per step on the device, input shapes {event.input_shapes}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", default="d128")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--trace-steps", type=int, default=10)
    parser.add_argument("--rows", type=int, default=18, help="kernels listed in the profile's table")
    parser.add_argument("--find", default="", help="also list the host ops whose name contains this, by shapes")
    parser.add_argument("--modes", nargs="+", default=["default"],
                        help="torch.compile modes to time the loss graph with, one after another")
    args = parser.parse_args()
    import torch
    from core import Trainer
    from scaling_laws.training.distributed import DistContext

    cfg = shape_config(args.shape, args.steps, random_token_dir(4_000_000))
    trainer = Trainer(cfg, DistContext.from_env())
    batches = [(i.pin_memory(), t.pin_memory()) for i, t in trainer.step_batches(0)]
    tokens = cfg.batch_size * cfg.gradient_accumulation_steps * SEQ
    for mode in args.modes:
        torch.compiler.reset()
        trainer.train_loss = torch.compile(trainer._loss, mode=None if mode == "default" else mode)
        started = time.perf_counter()
        for step in range(15):  # compile and warm up
            trainer.train_step(batches, 1e-4, step)
        torch.cuda.synchronize()
        timings = parts(trainer, batches, args.steps)
        print(f"shape {args.shape}, compile mode {mode} (warm-up {time.perf_counter() - started:.1f} s): "
              f"{tokens} tokens per step")
        for name, ms in timings.items():
            print(f"  {name:<18} {ms:7.2f} ms")
        print(f"  whole step = {tokens / timings['whole train_step'] * 1e3:.3e} tokens/s (no data loading, no logging)")
        trace(trainer, batches, args.trace_steps, args.rows, args.find)


if __name__ == "__main__":
    main()
