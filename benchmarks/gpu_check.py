"""GPU check: the unchanged training code trains in bf16 on CUDA (eager and torch.compile).

Run on a CUDA machine:  python benchmarks/gpu_check.py [--width 512] [--tokens 20000000]
Prints, side by side for eager and compiled runs: the autocast dtype actually used by the
matmuls, tokens/s, peak GPU memory, and first/last validation loss.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from scaling_laws.validate import validate_experiment  # noqa: E402
from core import train  # noqa: E402
from scaling_laws.models import build_model  # noqa: E402
from scaling_laws.training.device import autocast_dtype  # noqa: E402
from experiment_definitions import GPU_SETTINGS  # noqa: E402
from experiment_utils import gen_experim  # noqa: E402
from scaling_laws.results_layout import read_metrics_rows, run_paths  # noqa: E402


def matmul_dtype(model: torch.nn.Module, cfg) -> torch.dtype:
    """dtype of the first Linear's output under the autocast the trainer picks for this config on CUDA."""
    seen = []
    hook = next(m for m in model.modules() if isinstance(m, torch.nn.Linear)).register_forward_hook(
        lambda _m, _i, out: seen.append(out.dtype))
    with torch.autocast("cuda", dtype=autocast_dtype(cfg, torch.device("cuda"))):
        model(torch.zeros(1, cfg.seq_length, dtype=torch.long, device="cuda"))
    hook.remove()
    return seen[0]


def run(width: int, tokens: int, compile_model: bool) -> dict:
    cfg = validate_experiment(gen_experim(width, label=f"d{width}_compile{int(compile_model)}", folder_name="gpu",
                                          max_tokens_training=tokens, compile=compile_model, **GPU_SETTINGS)[0])
    torch.cuda.reset_peak_memory_stats()
    summary = train(cfg, run_paths(cfg))
    rows = read_metrics_rows(run_paths(cfg).csv)
    val = [float(r["val_loss"]) for r in rows if r["val_loss"]]
    rates = [float(r["tokens_per_second"]) for r in rows[len(rows) // 2:]]  # steady state: second half
    return {"compile": compile_model, "status": summary["status"], "micro x accum":
            f"{cfg.batch_size}x{cfg.gradient_accumulation_steps}", "tokens/s": sum(rates) / len(rates),
            "peak_GiB": torch.cuda.max_memory_allocated() / 2**30, "val_first": val[0], "val_last": val[-1]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--tokens", type=int, default=20_000_000)
    args = parser.parse_args()
    assert torch.cuda.is_available(), "this check needs a CUDA device"
    os.environ.setdefault("SCALING_RESULTS_DIR", tempfile.mkdtemp())
    cfg = validate_experiment(gen_experim(args.width, **GPU_SETTINGS)[0])
    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}")
    print(f"matmul output dtype under the trainer's autocast: {matmul_dtype(build_model(cfg).cuda(), cfg)}")
    results = [run(args.width, args.tokens, compile_model) for compile_model in (False, True)]
    for result in results:
        print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()))
    print(f"compiled / eager throughput: {results[1]['tokens/s'] / results[0]['tokens/s']:.2f}x")


if __name__ == "__main__":
    main()
