"""GPU throughput of the framework's own loop (core.train) at nanoGPT's benchmark shapes.

    python benchmarks/throughput.py [--tree DIR] [--shapes d128 d512 d1024 gpt2] [--steps 150] [--like-nanogpt]

Trains each shape on random uint16 tokens (vocabulary 50,304, sequence 1,024, 4 layers unless
noted, bf16, compiled, evaluation off) and prints steady-state tokens/s (median of the second half of
the steps), MFU against the H100/H200 bf16 peak (989.4 TFLOP/s) with nanoGPT's count 6N + 12 L d T
per token (N without the position embedding), peak memory, and the start-up seconds: the wall time
of core.train beyond what its steps take at the steady rate (set-up, compilation, warm-up). ``--tree`` imports the code from
another checkout, so that two versions are measured side by side in one session. ``--like-nanogpt`` trains
the model nanoGPT's bench.py trains (LayerNorms without a bias, no gradient clip) instead of the project's defaults.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

SHAPES = {  # name: (hidden_dim, num_layers, num_heads, batch)
    "d128": (128, 4, 2, 16), "d512": (512, 4, 8, 16), "d1024": (1024, 4, 16, 16), "gpt2": (768, 12, 12, 12)}
NANOGPT_TOKENS_PER_S_H200 = {"d128": 2.46e6, "d512": 1.38e6, "d1024": 0.69e6, "gpt2": 0.46e6}  # issue 12's table
VOCAB, SEQ, PEAK = 50304, 1024, 989.4e12


def random_token_dir(tokens: int) -> str:
    import numpy as np

    folder = tempfile.mkdtemp(prefix="throughput_")
    rng = np.random.default_rng(0)
    for split, count in (("train", tokens), ("val", tokens // 20)):
        rng.integers(0, VOCAB, size=count, dtype=np.uint16).tofile(Path(folder) / f"{split}.bin")
    from scaling_laws.data.prepare import describe_bins
    describe_bins(Path(folder), "uint16", VOCAB)  # the meta.json a dataset folder needs
    return folder


def nanogpt_flops_per_token(d: int, layers: int) -> float:
    params = VOCAB * d + layers * (12 * d * d + 4 * d) + 2 * d  # tied head, LayerNorms, no position embedding
    return 6 * params + 12 * layers * d * SEQ


LIKE_NANOGPT = dict(norm="layernorm_nobias", grad_clip=0.0)  # what nanoGPT's bench.py (bias=False) leaves out


def shape_config(name: str, steps: int, dataset: str, **overrides):
    """The validated config of one shape: ``steps`` optimizer steps, compiled, bf16, evaluation only at the end."""
    from experiment_utils import gen_experim
    from scaling_laws.validate import validate_experiment

    d, layers, heads, batch = SHAPES[name]
    exp = gen_experim(d, label=name, folder_name="throughput", num_layers=layers, num_heads=heads, vocab_size=VOCAB,
                      seq_length=SEQ, target_effective_batch_size=batch, batch_size=batch,
                      max_tokens_training=steps * batch * SEQ, eval_interval=10**9, eval_sequences=batch,
                      dataset=dataset, compile="on", warmup_fraction=0.0, device="cuda", **overrides)[0]
    return validate_experiment(exp)


def measure(name: str, steps: int, dataset: str, **overrides) -> dict:
    import torch
    from core import train
    from scaling_laws.results_layout import read_metrics_rows, run_paths

    d, layers, heads, batch = SHAPES[name]
    cfg = shape_config(name, steps, dataset, **overrides)
    paths = run_paths(cfg)
    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    train(cfg, paths)
    wall_s = time.perf_counter() - started
    rows = read_metrics_rows(paths.csv)
    steady = statistics.median(float(r["tokens_per_second"]) for r in rows[len(rows) // 2:-1])
    steady_train_s = len(rows) * batch * SEQ / steady  # what the steps would take at the steady rate
    return {"shape": name, "tokens_per_s": steady, "mfu": steady * nanogpt_flops_per_token(d, layers) / PEAK,
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30, "startup_s": wall_s - steady_train_s,
            "vs_nanogpt": steady / NANOGPT_TOKENS_PER_S_H200[name]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", default=str(Path(__file__).resolve().parent.parent), help="checkout to import")
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--like-nanogpt", action="store_true", help="nanoGPT's model: no LayerNorm bias, no clip")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.tree).resolve()))
    os.environ.setdefault("SCALING_RESULTS_DIR", tempfile.mkdtemp(prefix="throughput_results_"))
    import torch

    dataset = random_token_dir(40_000_000)
    model = f"like nanoGPT {LIKE_NANOGPT}" if args.like_nanogpt else "project defaults"
    print(f"tree {args.tree}  {model}  device {torch.cuda.get_device_name()}  torch {torch.__version__}")
    print(f"{'shape':<6} {'tokens/s':>10} {'MFU':>6} {'peak GiB':>9} {'start-up s':>10} {'vs nanoGPT':>10}")
    for name in args.shapes:
        r = measure(name, args.steps, dataset, **(LIKE_NANOGPT if args.like_nanogpt else {}))
        print(f"{r['shape']:<6} {r['tokens_per_s']:>10.3e} {r['mfu']:>6.1%} {r['peak_gib']:>9.2f} "
              f"{r['startup_s']:>10.1f} {r['vs_nanogpt']:>9.2f}x", flush=True)


if __name__ == "__main__":
    main()
