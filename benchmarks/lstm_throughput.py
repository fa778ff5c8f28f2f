"""LSTM against a transformer of the same non-embedding size, on one GPU, through the framework's loop.

    python benchmarks/lstm_throughput.py [--steps 60] [--device cuda|cpu]

Both train with core.train on random uint16 tokens (vocabulary 50,304, sequence 1,024, batch 16, one
process, evaluation off), each with the config a user gets (compile=auto, bf16 autocast on CUDA; the
LSTM's recurrence runs in fp32, models/lstm): the transformer d=512, 8 layers (25.18M non-embedding),
the LSTM d=1256, 2 layers (25.26M: lstm_width_for). Prints steady tokens/s (median of the second half
of the steps), peak memory and the LSTM/transformer ratio.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from throughput import SEQ, VOCAB, random_token_dir  # noqa: E402

BATCH = 16


def experiment(family: str, steps: int, dataset: str, device: str, seq: int, vocab: int) -> dict:
    from experiment_utils import gen_experim
    from lstm_model import gen_lstm_experim

    common = dict(folder_name="lstm_throughput", vocab_size=vocab, seq_length=seq, target_effective_batch_size=BATCH,
                  batch_size=BATCH, max_tokens_training=steps * BATCH * seq, eval_interval=10**9,
                  eval_sequences=BATCH, dataset=dataset, warmup_fraction=0.0, device=device)
    if family == "lstm":
        return gen_lstm_experim(1256, label="lstm1256", world_size=1, **common)[0]
    return gen_experim(512, label="transformer512", num_layers=8, **common)[0]


def measure(family: str, steps: int, dataset: str, device: str, seq: int, vocab: int) -> dict:
    import torch
    from core import train
    from scaling_laws.models import param_counts
    from scaling_laws.results_layout import read_metrics_rows, run_paths
    from scaling_laws.validate import validate_experiment

    cfg = validate_experiment(experiment(family, steps, dataset, device, seq, vocab))
    paths = run_paths(cfg)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    train(cfg, paths)
    rows = read_metrics_rows(paths.csv)
    steady = statistics.median(float(r["tokens_per_second"]) for r in rows[len(rows) // 2:-1])
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    return {"family": family, "non_embedding": param_counts(cfg).non_embedding, "tokens_per_s": steady,
            "peak_gib": peak, "wall_s": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--seq", type=int, default=SEQ, help="sequence length (a small one for a CPU smoke run)")
    parser.add_argument("--vocab", type=int, default=VOCAB)
    args = parser.parse_args()
    os.environ.setdefault("SCALING_RESULTS_DIR", tempfile.mkdtemp(prefix="lstm_throughput_"))
    import torch

    dataset = random_token_dir(20_000_000 if args.device == "cuda" else 200_000)
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"device {name}  torch {torch.__version__}  seq {args.seq}  vocab {args.vocab}  batch {BATCH}")
    print(f"{'family':<12} {'non-emb N':>10} {'tokens/s':>10} {'peak GiB':>9} {'wall s':>7}")
    results = {}
    for family in ("transformer", "lstm"):
        r = results[family] = measure(family, args.steps, dataset, args.device, args.seq, args.vocab)
        print(f"{family:<12} {r['non_embedding'] / 1e6:>9.2f}M {r['tokens_per_s']:>10.3e} {r['peak_gib']:>9.2f} "
              f"{r['wall_s']:>7.1f}", flush=True)
    print(f"LSTM / transformer tokens/s: {results['lstm']['tokens_per_s'] / results['transformer']['tokens_per_s']:.2f}x")


if __name__ == "__main__":
    main()
