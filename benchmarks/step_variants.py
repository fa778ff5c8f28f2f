"""Which changes to a training step pay, measured side by side in one run (CUDA).

    python benchmarks/step_variants.py [--shapes d512 d1024 gpt2] [--steps 60] [--variants ...]

For each throughput.py shape it builds core.Trainer (compiled, CUDA graphs) once and times whole steps
(ms per step, one device sync at the end, after 10 warm-up steps) under each variant, the shipped step
first and last so a drift of clocks shows:

- ``shipped``: Trainer.train_step as it is (the clip inside the fused AdamW kernel as its ``grad_scale``;
  with one micro-batch, ``.grad`` takes the backward's outputs);
- ``separate-clip``: the step before that change: gradients kept in zeroed buffers between steps, the clip a
  pass of its own (``clip_grad_norm_``) before the optimizer step;
- ``log-softmax-loss``: shipped, with the loss as F.cross_entropy (log-softmax + NLL) instead of
  logsumexp - logit: the compiled backward of that keeps fp32 log-probabilities;
- ``+coord-tuning``: shipped, with inductor's coordinate-descent tuning of its Triton kernels (recompiled);
- ``+max-autotune``: shipped, compiled with mode max-autotune (GEMM templates autotuned; minutes to compile);
- ``sdpa-flash``, ``sdpa-cudnn``, ``sdpa-efficient``: shipped, compiled with attention restricted to that
  scaled_dot_product_attention backend (torch picks one itself in ``shipped``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.profile_step import per_step_ms  # noqa: E402
from benchmarks.throughput import SEQ, random_token_dir, shape_config  # noqa: E402

VARIANTS = ["shipped", "separate-clip", "log-softmax-loss", "+coord-tuning", "shipped"]
SDPA_VARIANTS = {"sdpa-flash": "FLASH_ATTENTION", "sdpa-cudnn": "CUDNN_ATTENTION", "sdpa-efficient": "EFFICIENT_ATTENTION"}


def separate_clip_step(trainer, batches):
    """The step as it was before the clip moved into the optimizer: kept gradients, clip_grad_norm_ pass."""
    import torch

    params = trainer.parameters
    trainer.optimizer.grad_scale = None  # the fused kernel takes the gradients as they are
    for p in params:
        p.grad = torch.zeros_like(p)

    def step(_index):
        for inputs, targets in batches:
            torch.compiler.cudagraph_mark_step_begin()
            objective, _ = trainer.train_loss(inputs, targets)
            (objective / len(batches)).backward()
        torch.nn.utils.clip_grad_norm_(params, trainer.cfg.grad_clip)
        trainer.optimizer.step()
        trainer.optimizer.zero_grad(set_to_none=False)
    return step


def log_softmax_loss(trainer):
    """The training loss as it was: F.cross_entropy on the fp32 logits (no label smoothing)."""
    import torch.nn.functional as F

    def loss(inputs, targets):
        with trainer.autocast():
            logits = trainer.model(inputs)
        plain = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())
        return plain, plain
    return loss


def recompile(trainer, mode: str, loss=None) -> None:
    import torch

    torch.compiler.reset()
    trainer.train_loss = torch.compile(loss or trainer._loss, mode=mode)


def run_shape(shape: str, steps: int, dataset: str, variants: list[str]) -> None:
    import torch
    import torch._inductor.config
    from core import Trainer
    from scaling_laws.training.distributed import DistContext

    trainer = Trainer(shape_config(shape, steps + 10, dataset), DistContext())
    batches = [(i.to(trainer.device), t.to(trainer.device)) for i, t in trainer.step_batches(0)]
    shipped_ms = None
    for name in variants:
        with attention_backend(name):
            shipped_ms = time_variant(trainer, batches, shape, name, steps, shipped_ms)
    torch._inductor.config.coordinate_descent_tuning = False


def attention_backend(variant: str):
    """The SDPA backend a ``sdpa-*`` variant restricts attention to (compiled under it); else no restriction."""
    from contextlib import nullcontext

    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(getattr(SDPBackend, SDPA_VARIANTS[variant])) if variant in SDPA_VARIANTS else nullcontext()


def time_variant(trainer, batches, shape: str, name: str, steps: int, shipped_ms):
    """Recompile the step as variant ``name``, warm it up, time it and print its row; the shipped ms."""
    import torch
    import torch._inductor.config

    tokens = sum(t.numel() for t, _ in batches)
    started = time.perf_counter()
    torch._inductor.config.coordinate_descent_tuning = name == "+coord-tuning"
    torch.cuda.reset_peak_memory_stats()
    recompile(trainer, "max-autotune" if name == "+max-autotune" else "reduce-overhead",
              log_softmax_loss(trainer) if name == "log-softmax-loss" else None)
    for p in trainer.parameters:
        p.grad = None
    if name == "separate-clip":
        step = separate_clip_step(trainer, batches)
    else:
        step = lambda index: trainer.train_step(batches, 1e-4, index)  # noqa: E731
    for index in range(10):
        step(index)
    torch.cuda.synchronize()
    warm_s = time.perf_counter() - started
    ms = per_step_ms(step, steps)
    shipped_ms = shipped_ms or ms
    print(f"{shape:<6} {name:<15} {ms:8.2f} ms  {tokens / ms * 1e3:10.3e} tokens/s  "
          f"{shipped_ms / ms:5.3f}x  peak {torch.cuda.max_memory_allocated() / 2**30:5.2f} GiB  "
          f"(set-up + warm-up {warm_s:5.1f} s)", flush=True)
    return shipped_ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shapes", nargs="+", default=["d512", "d1024", "gpt2"])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--variants", nargs="+", default=VARIANTS,
                        choices=sorted(set(VARIANTS) | {"+max-autotune"} | set(SDPA_VARIANTS)))
    args = parser.parse_args()
    import torch

    print(f"device {torch.cuda.get_device_name()}  torch {torch.__version__}  seq {SEQ}; x = shipped ms / ms")
    dataset = random_token_dir(4_000_000)
    for shape in args.shapes:
        run_shape(shape, args.steps, dataset, args.variants)


if __name__ == "__main__":
    main()
