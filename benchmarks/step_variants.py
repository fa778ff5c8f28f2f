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
  scaled_dot_product_attention backend (torch picks one itself in ``shipped``);
- ``online-lse``: shipped, with the loss's normaliser written max + log(sum(exp(logits - max))), the max a
  constant to autograd, which inductor computes in one read of the logits (online softmax) where
  torch.logsumexp (shipped, regularisation.log_normaliser) reads them twice;
- ``+split-autotune``: inductor autotunes the split of its mixed-order reductions (LayerNorm backward: the
  row-wise input gradient fused with the column sums of the weight and bias gradients);
- ``no-mix-order``: those column sums as kernels of their own;
- ``+pointwise-autotune``: inductor benchmarks more block sizes for each of its own (pointwise and reduction) kernels;
- ``+combo-kernels``: inductor launches independent kernels of its own together, as one (horizontal fusion);
- ``+pdl``: inductor's Triton kernels use Hopper's programmatic dependent launch (a kernel starts while the one
  before it finishes);
- ``+split-32``, ``+split-64``, ``+split-128``: rows per partial sum of the mixed-order reductions (inductor picks
  16 at these shapes on 132 SMs, so each LayerNorm weight and bias gradient is finished by an aten sum over 768 or
  1,024 partial rows, with one thread per column);
- ``blas-cublaslt``: matmuls through cuBLASLt (torch.backends.cuda.preferred_blas_library) instead of the default;
- what the loop adds around the step, each on top of the one before: ``+pinned-copies`` (each step's batch
  copied from pinned host memory, as the loop does), ``+prefetch-thread`` (batches cut from the token data
  by the loop's prefetch thread), ``+log-windows`` (results staged and read back every LOG_EVERY_STEPS steps).
"""
from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.profile_step import per_step_ms  # noqa: E402
from benchmarks.throughput import SEQ, random_token_dir, shape_config  # noqa: E402

VARIANTS = ["shipped", "separate-clip", "log-softmax-loss", "+coord-tuning", "shipped"]
LOOP_VARIANTS = ["+pinned-copies", "+prefetch-thread", "+log-windows"]
SDPA_VARIANTS = {"sdpa-flash": "FLASH_ATTENTION", "sdpa-cudnn": "CUDNN_ATTENTION",
                 "sdpa-efficient": "EFFICIENT_ATTENTION"}


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


def loop_step(trainer, device_batches, parts: int):
    """The step with the first ``parts`` of the loop's additions (LOOP_VARIANTS) around it."""
    from core import LOG_EVERY_STEPS
    from scaling_laws.training.step_window import StepWindow

    host = [(i.cpu().pin_memory(), t.cpu().pin_memory()) for i, t in device_batches]
    prefetched = trainer.batches_from(0) if parts >= 2 else None
    window = StepWindow()

    def step(index):
        batches = next(prefetched) if prefetched is not None else host
        results = trainer.train_step(batches, 1e-4, index)
        if parts < 3:
            return
        window.add(index + 1, 1e-4, *results)
        if window.staged is not None:
            window.collect(0.0)
        if (index + 1) % LOG_EVERY_STEPS == 0:
            window.stage()
    return step


def recompile(trainer, mode: str, loss=None) -> None:
    import torch

    torch.compiler.reset()
    trainer.train_loss = torch.compile(loss or trainer._loss, mode=mode)


def run_shape(shape: str, steps: int, dataset: str, variants: list[str]) -> None:
    from core import Trainer
    from scaling_laws.training.distributed import DistContext

    trainer = Trainer(shape_config(shape, steps + 10, dataset), DistContext())
    batches = [(i.to(trainer.device), t.to(trainer.device)) for i, t in trainer.step_batches(0)]
    shipped_ms = None
    for name in variants:
        if missing := missing_settings(INDUCTOR_VARIANTS.get(name, {})):
            print(f"{shape:<6} {name:<15} skipped: this torch's inductor has no {', '.join(missing)}", flush=True)
            continue
        with variant_settings(name):
            shipped_ms = time_variant(trainer, batches, shape, name, steps, shipped_ms)


def online_log_normaliser(logits):
    """logsumexp as inductor's online-softmax pattern matches it (the online-lse variant)."""
    shift = logits.amax(dim=-1, keepdim=True).detach()
    return ((logits - shift).exp().sum(dim=-1, keepdim=True).log() + shift).squeeze(-1)


INDUCTOR_VARIANTS = {"+coord-tuning": {"coordinate_descent_tuning": True},
                     "+split-autotune": {"triton.mix_order_reduction_autotune_split_size": True},
                     "no-mix-order": {"triton.mix_order_reduction": False},
                     "+pointwise-autotune": {"max_autotune_pointwise": True},
                     "+combo-kernels": {"combo_kernels": True},
                     "+pdl": {"triton.enable_pdl": True},
                     **{f"+split-{rows}": {"triton.mix_order_reduction_split_size": rows} for rows in (32, 64, 128)}}


def missing_settings(settings: dict) -> list[str]:
    """Those of ``settings`` this torch's inductor does not have."""
    import torch._inductor.config as inductor_config

    def has(path: str) -> bool:
        scope = inductor_config
        for part in path.split("."):
            if not hasattr(scope, part):
                return False
            scope = getattr(scope, part)
        return True
    return [path for path in settings if not has(path)]


@contextmanager
def variant_settings(variant: str):
    """What a variant changes while it is compiled and timed: the SDPA backend, inductor's settings or the
    loss's normaliser; nothing for the others."""
    import torch
    import torch._inductor.config
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from scaling_laws.training import regularisation

    shipped_normaliser, shipped_blas = regularisation.log_normaliser, torch.backends.cuda.preferred_blas_library()
    if variant == "blas-cublaslt":
        torch.backends.cuda.preferred_blas_library("cublaslt")
    if variant == "online-lse":
        regularisation.log_normaliser = online_log_normaliser
    try:
        with ExitStack() as stack:
            if variant in SDPA_VARIANTS:
                stack.enter_context(sdpa_kernel(getattr(SDPBackend, SDPA_VARIANTS[variant])))
            stack.enter_context(torch._inductor.config.patch(INDUCTOR_VARIANTS.get(variant, {})))
            yield
    finally:
        regularisation.log_normaliser = shipped_normaliser
        torch.backends.cuda.preferred_blas_library(shipped_blas)


def time_variant(trainer, batches, shape: str, name: str, steps: int, shipped_ms):
    """Recompile the step as variant ``name``, warm it up, time it and print its row; the shipped ms."""
    import torch

    tokens = sum(t.numel() for t, _ in batches)
    started = time.perf_counter()
    torch.cuda.reset_peak_memory_stats()
    recompile(trainer, "max-autotune" if name == "+max-autotune" else "reduce-overhead",
              log_softmax_loss(trainer) if name == "log-softmax-loss" else None)
    for p in trainer.parameters:
        p.grad = None
    if name == "separate-clip":
        step = separate_clip_step(trainer, batches)
    elif name in LOOP_VARIANTS:
        step = loop_step(trainer, batches, LOOP_VARIANTS.index(name) + 1)
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
                        choices=sorted(set(VARIANTS) | {"+max-autotune", "online-lse", "blas-cublaslt"}
                                       | set(SDPA_VARIANTS) | set(LOOP_VARIANTS) | set(INDUCTOR_VARIANTS)))
    args = parser.parse_args()
    import torch

    print(f"device {torch.cuda.get_device_name()}  torch {torch.__version__}  seq {SEQ}; x = shipped ms / ms")
    dataset = random_token_dir(4_000_000)
    for shape in args.shapes:
        run_shape(shape, args.steps, dataset, args.variants)


if __name__ == "__main__":
    main()
