"""NCCL DDP check on 2 GPUs: two processes train what one process trains, and faster.

Run on a machine with 2 CUDA devices:  python benchmarks/ddp_gpu_check.py [--width 256]
Prints both runs' throughput and the largest per-step loss difference (bf16: expect < 0.05).
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.distributed as torch_dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

from scaling_laws.validate import validate_experiment  # noqa: E402
from core import train  # noqa: E402
from scaling_laws.training.distributed import DistContext  # noqa: E402
from experiment_definitions import GPU_SETTINGS  # noqa: E402
from experiment_utils import gen_experim  # noqa: E402
from scaling_laws.results_layout import read_json, read_metrics_rows, run_paths, run_paths_for  # noqa: E402


def worker(rank: int, port: int, experiment: dict) -> None:
    os.environ["LOCAL_RANK"] = str(rank)
    torch_dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    cfg = validate_experiment(experiment)
    train(cfg, run_paths(cfg), DistContext(rank, rank, 2))
    torch_dist.barrier()
    torch_dist.destroy_process_group()


def steady_rate(rows) -> float:
    rates = [float(r["tokens_per_second"]) for r in rows[len(rows) // 2:]]
    return sum(rates) / len(rates)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--tokens", type=int, default=10_000_000)
    args = parser.parse_args()
    assert torch.cuda.device_count() >= 2, "this check needs 2 CUDA devices"
    os.environ.setdefault("SCALING_RESULTS_DIR", tempfile.mkdtemp())
    settings = {**GPU_SETTINGS, "max_tokens_training": args.tokens}
    single = validate_experiment(gen_experim(args.width, label="single", folder_name="ddp", **settings)[0])
    train(single, run_paths_for("ddp", "single"))
    ddp = gen_experim(args.width, label="ddp2", folder_name="ddp", **settings, world_size=2)[0]  # same global batch
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.spawn(worker, args=(port, ddp), nprocs=2, join=True)
    one, two = (read_metrics_rows(run_paths_for("ddp", label).csv) for label in ("single", "ddp2"))
    assert [r["tokens_processed"] for r in one] == [r["tokens_processed"] for r in two]
    gap = max(abs(float(a["loss"]) - float(b["loss"])) for a, b in zip(one, two))
    print(f"{torch.cuda.get_device_name()} x2, torch {torch.__version__}, width {args.width}, {len(one)} steps")
    print(f"world_size recorded: {read_json(run_paths_for('ddp', 'ddp2').config_json)['world_size']}")
    print(f"final val_loss: single {one[-1]['val_loss']}  ddp {two[-1]['val_loss']}")
    print(f"max |loss difference| per step: {gap:.4f}")
    print(f"tokens/s: single GPU {steady_rate(one):.3g}, 2-GPU DDP {steady_rate(two):.3g}, "
          f"ratio {steady_rate(two) / steady_rate(one):.2f}x")


if __name__ == "__main__":
    main()
