"""Predicted vs measured peak GPU memory of training steps (the estimator of scaling_laws/models/memory.py).

    SCALING_DATA_CACHE=/tmp/dc python3 benchmarks/memory_estimate.py [--only eager compiled lstm] [--budget-s 240]

For each config of CONFIGS (widths, depths, sequence lengths, micro-batches, accumulation 1 and 2,
bf16 and fp32, eager and compiled, vocabulary 256 and 50,304, the LSTM) it builds core.Trainer, runs STEPS
optimizer steps of the training code itself, and compares ``torch.cuda.max_memory_allocated()`` with
the predicted ``peak_allocated``. Then it forces a micro-batch too large for the device and checks
that the step falls back (training/memory_fit.py) and trains on. Compiled configs run last and
are skipped once ``--budget-s`` is spent. The table goes to stdout (and to --out if given).
"""
from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STEPS = 3  # the peak is taken after >= 2 optimizer steps: AdamW state exists from the first one

# (label, overrides): every config fixes its micro-batch, so the run uses exactly it.
CONFIGS: list[tuple[str, dict]] = [
    ("d256L4s512b16", dict(hidden_dim=256, num_layers=4, seq_length=512, batch_size=16)),
    ("d256L4s512b16a2", dict(hidden_dim=256, num_layers=4, seq_length=512, batch_size=16, accum=2)),
    ("d512L8s512b16", dict(hidden_dim=512, num_layers=8, seq_length=512, batch_size=16)),
    ("d512L8s1024b8", dict(hidden_dim=512, num_layers=8, seq_length=1024, batch_size=8)),
    ("d512L8s1024b8a2", dict(hidden_dim=512, num_layers=8, seq_length=1024, batch_size=8, accum=2)),
    ("d768L12s1024b8", dict(hidden_dim=768, num_layers=12, seq_length=1024, batch_size=8)),
    ("d1024L8s2048b4", dict(hidden_dim=1024, num_layers=8, seq_length=2048, batch_size=4)),
    ("d1024L16s512b32", dict(hidden_dim=1024, num_layers=16, seq_length=512, batch_size=32)),
    ("d128L2s256b64", dict(hidden_dim=128, num_layers=2, seq_length=256, batch_size=64)),
    ("d2048L4s512b8", dict(hidden_dim=2048, num_layers=4, seq_length=512, batch_size=8)),
    ("d256L4s512b16 V50k", dict(hidden_dim=256, num_layers=4, seq_length=512, batch_size=16, vocab_size=50304)),
    ("d512L8s1024b8 V50k", dict(hidden_dim=512, num_layers=8, seq_length=1024, batch_size=8, vocab_size=50304)),
    ("d512L8s1024b8a2 V50k", dict(hidden_dim=512, num_layers=8, seq_length=1024, batch_size=8, accum=2,
                                  vocab_size=50304)),
    ("d768L12s1024b8 V50k untied", dict(hidden_dim=768, num_layers=12, seq_length=1024, batch_size=8,
                                        vocab_size=50304, tie_embeddings=False)),
    ("d512L8s512b16 swiglu", dict(hidden_dim=512, num_layers=8, seq_length=512, batch_size=16, activation="swiglu")),
    ("d512L8s512b16 relu", dict(hidden_dim=512, num_layers=8, seq_length=512, batch_size=16, activation="relu")),
    ("d256L4s512b16 fp32", dict(hidden_dim=256, num_layers=4, seq_length=512, batch_size=16, dtype="float32")),
    ("d512L8s1024b8 fp32", dict(hidden_dim=512, num_layers=8, seq_length=1024, batch_size=8, dtype="float32")),
    ("d512L8s1024b8a2 V50k fp32", dict(hidden_dim=512, num_layers=8, seq_length=1024, batch_size=8, accum=2,
                                       vocab_size=50304, dtype="float32")),
    ("d256L4s512b16 compiled", dict(hidden_dim=256, num_layers=4, seq_length=512, batch_size=16, compile="on")),
    ("d512L8s1024b8 compiled", dict(hidden_dim=512, num_layers=8, seq_length=1024, batch_size=8, compile="on")),
    ("d512L8s1024b8a2 V50k compiled", dict(hidden_dim=512, num_layers=8, seq_length=1024, batch_size=8, accum=2,
                                           vocab_size=50304, compile="on")),
    ("d768L12s1024b8 V50k compiled", dict(hidden_dim=768, num_layers=12, seq_length=1024, batch_size=8,
                                          vocab_size=50304, compile="on")),
    ("d512L8s1024b8 fp32 compiled", dict(hidden_dim=512, num_layers=8, seq_length=1024, batch_size=8,
                                         dtype="float32", compile="on")),
    ("d512L8s1024b8 V50k compiled", dict(hidden_dim=512, num_layers=8, seq_length=1024, batch_size=8,
                                         vocab_size=50304, compile="on")),
    ("d256L4s512b16a2 compiled", dict(hidden_dim=256, num_layers=4, seq_length=512, batch_size=16, accum=2,
                                      compile="on")),
    ("d768L12s1024b8 V50k compiled nographs", dict(hidden_dim=768, num_layers=12, seq_length=1024, batch_size=8,
                                                   vocab_size=50304, compile="on", cuda_graphs="off")),
    # The LSTM (eager: cuDNN's recurrence, in fp32 inside autocast; models/lstm/model.py).
    ("lstm d512L2s256b32", dict(architecture="lstm", hidden_dim=512, seq_length=256, batch_size=32)),
    ("lstm d512L2s256b32a2", dict(architecture="lstm", hidden_dim=512, seq_length=256, batch_size=32, accum=2)),
    ("lstm d1024L2s512b16", dict(architecture="lstm", hidden_dim=1024, seq_length=512, batch_size=16)),
    ("lstm d1024L4s256b32", dict(architecture="lstm", hidden_dim=1024, num_layers=4, seq_length=256, batch_size=32)),
    ("lstm d512L2s512b16 V50k", dict(architecture="lstm", hidden_dim=512, seq_length=512, batch_size=16,
                                     vocab_size=50304)),
    ("lstm d1024L2s512b16 fp32", dict(architecture="lstm", hidden_dim=1024, seq_length=512, batch_size=16,
                                      dtype="float32")),
    ("lstm d768L3s384b24", dict(architecture="lstm", hidden_dim=768, num_layers=3, seq_length=384, batch_size=24)),
    ("lstm d2048L2s256b16", dict(architecture="lstm", hidden_dim=2048, seq_length=256, batch_size=16)),
    ("lstm d512L2s512b16 V50k compiled", dict(architecture="lstm", hidden_dim=512, seq_length=512, batch_size=16,
                                              vocab_size=50304, compile="on")),
    ("lstm d1024L2s512b16 compiled", dict(architecture="lstm", hidden_dim=1024, seq_length=512, batch_size=16,
                                          compile="on")),
    ("lstm d256L2s1024b8 V50k a2", dict(architecture="lstm", hidden_dim=256, seq_length=1024, batch_size=8, accum=2,
                                        vocab_size=50304)),
]
KINDS = ("eager", "compiled", "lstm")


def kind_of(overrides: dict) -> str:
    """The table a row belongs to: the LSTM's rows, compiled transformer rows, eager transformer rows."""
    if overrides.get("architecture") == "lstm":
        return "lstm"
    return "compiled" if overrides.get("compile") == "on" else "eager"


# Forced fallback: a fixed micro-batch declared for a device far larger than the real one.
TOO_LARGE = dict(hidden_dim=1024, num_layers=8, seq_length=2048, batch_size=128, vocab_size=50304,
                 gpu_memory_gb=4000.0)


def experiment(label: str, overrides: dict) -> dict:
    """The validated config of one benchmark row (eager unless it says compile, bf16 unless fp32)."""
    from experiment_utils import gen_experim
    from scaling_laws.validate import validate_experiment

    fields = dict(overrides)
    width, accum = fields.pop("hidden_dim"), fields.pop("accum", 1)
    fields.setdefault("compile", "off")
    batch = fields["batch_size"]
    safe = label.replace(" ", "_")
    heads = 1 if fields.get("architecture") == "lstm" else max(1, width // 64)
    return validate_experiment(gen_experim(width, label=safe, folder_name="memory_bench", num_heads=heads,
                                           target_effective_batch_size=batch * accum,
                                           max_tokens_training=batch * accum * fields["seq_length"] * STEPS,
                                           eval_sequences=1, **fields)[0])


def release() -> None:
    import torch

    gc.collect()
    torch._dynamo.reset()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()


def measure(cfg, steps: int = STEPS) -> tuple[int, int, object]:
    """max_memory_allocated and max_memory_reserved over ``steps`` optimizer steps of core.Trainer (model and
    state included), and the config the run ended with. Under CUDA graphs the reserved figure is the one to
    read beside the allocated: a graph's private pool stays reserved, and replays allocate nothing."""
    import torch
    from core import Trainer
    from scaling_laws.training.distributed import DistContext
    from scaling_laws.training.memory_fit import step_fitting_memory

    release()
    trainer = Trainer(cfg, DistContext())
    for step in range(steps):
        step_fitting_memory(trainer, trainer.step_batches(step), 1e-4, step)
    torch.cuda.synchronize()
    peak, reserved, final = torch.cuda.max_memory_allocated(), torch.cuda.max_memory_reserved(), trainer.cfg
    del trainer
    release()
    return peak, reserved, final


def row(label: str, cfg, measured: int, reserved: int) -> tuple[str, float]:
    from scaling_laws.models.memory import GIB, estimate

    predicted = estimate(cfg)
    error = predicted.peak_allocated / measured - 1
    parts = predicted.as_gib()
    return (f"{label:<32} {cfg.batch_size:>3}x{cfg.gradient_accumulation_steps:<2} {parts['parameters'] * 4:>7.3f} "
            f"{parts['activations']:>7.3f} {parts['logits']:>7.3f} {parts['weight_copies']:>7.3f} "
            f"{predicted.peak_allocated / GIB:>8.3f} {measured / GIB:>8.3f} {error:>+7.1%} "
            f"{reserved / GIB:>8.3f}"), error


def measure_row(label: str, overrides: dict, say) -> float | None:
    """Measure one config and print its row; a config that fails is reported and skipped."""
    try:
        cfg = experiment(label, overrides)
        measured, reserved, _ = measure(cfg)
    except Exception as error:  # one bad row must not lose the table
        say(f"{label}: failed: {type(error).__name__}: {str(error)[:200]}")
        release()
        return None
    text, error = row(label, cfg, measured, reserved)
    say(text)
    return error


HEADER = (f"{'config':<32} {'mb x a':>6} {'states':>7} {'activ':>7} {'logits':>7} {'copies':>7} "
          f"{'pred GiB':>8} {'meas GiB':>8} {'error':>7} {'reserved':>8}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="+", choices=KINDS, default=list(KINDS), help="only these tables")
    parser.add_argument("--budget-s", type=float, default=240.0, help="skip compiled rows after this many seconds")
    parser.add_argument("--out", help="also write the table here")
    args = parser.parse_args()
    os.environ.setdefault("SCALING_RESULTS_DIR", tempfile.mkdtemp(prefix="memory_bench_"))
    import torch

    started, lines, errors = time.perf_counter(), [], {kind: [] for kind in args.only}

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    torch.ones(64, 64, device="cuda") @ torch.ones(64, 64, device="cuda")  # cuBLAS workspace, as in any run
    say(f"device {torch.cuda.get_device_name()}  {torch.cuda.get_device_properties(0).total_memory / 2**30:.1f} GiB"
        f"  torch {torch.__version__}  baseline allocated {torch.cuda.memory_allocated() / 2**20:.0f} MiB")
    say(HEADER)
    for kind in ("eager", "lstm"):
        for label, overrides in CONFIGS:
            if kind in args.only and kind_of(overrides) == kind:
                errors[kind].append(measure_row(label, overrides, say))
    if "eager" in args.only:
        forced = experiment("forced_oom", TOO_LARGE)
        peak, _, final = measure(forced, steps=2)
        say(f"forced OOM: micro-batch {forced.batch_size}x{forced.gradient_accumulation_steps} -> "
            f"{final.batch_size}x{final.gradient_accumulation_steps}, trained on, peak {peak / 2**30:.1f} GiB")
    compiled = [(label, o) for label, o in CONFIGS if kind_of(o) == "compiled" and "compiled" in args.only]
    for label, overrides in compiled:  # compilation takes most of the time: these stop at the budget
        if time.perf_counter() - started > args.budget_s:
            say(f"{label}: skipped (budget spent)")
            continue
        errors["compiled"].append(measure_row(label, overrides, say))
    for kind, found in errors.items():
        found = [e for e in found if e is not None]
        if found:
            say(f"{kind}: {len(found)} configs, median error {statistics.median(found):+.1%}, "
                f"min {min(found):+.1%}, max {max(found):+.1%}, median |error| "
                f"{statistics.median(abs(e) for e in found):.1%}")
    say(f"wall {time.perf_counter() - started:.0f} s")
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
