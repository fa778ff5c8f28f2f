"""One rank of a data-parallel run, as launch.py starts it:

    python -m scaling_laws.running.rank CONFIG_JSON SUMMARY_JSON core:train

Rank, local rank and world size come from RANK/LOCAL_RANK/WORLD_SIZE (local ranks) or from Slurm's
SLURM_PROCID/SLURM_LOCALID/SLURM_NTASKS (srun ranks); the rendezvous from MASTER_ADDR/MASTER_PORT.
SIGUSR1 and SIGTERM ask the run to stop (the ranks agree at the next logged step and checkpoint).
Rank 0 writes the summary. Every rank ends deterministically: a barrier, the process group destroyed,
output flushed, then ``os._exit``: torch 2.13's gloo aborts at interpreter exit in a fraction of runs
(exit 134, "terminate called without an active exception") when its threads are torn down by
the interpreter's finalisers instead.
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import traceback
from datetime import timedelta
from pathlib import Path

log = logging.getLogger("scaling")

RENDEZVOUS_TIMEOUT = timedelta(minutes=5)  # a rank that never joins fails the others after this


def rank_from_env(env=os.environ) -> tuple[int, int, int]:
    """(rank, local rank, world size): torch's variables if set, else Slurm's."""
    if "RANK" in env:
        return int(env["RANK"]), int(env.get("LOCAL_RANK", env["RANK"])), int(env["WORLD_SIZE"])
    return int(env["SLURM_PROCID"]), int(env["SLURM_LOCALID"]), int(env["SLURM_NTASKS"])


def load_function(ref: str):
    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


def run_rank(config_path: str, summary_path: str, train_ref: str) -> None:
    import torch.distributed as torch_dist

    from scaling_laws.results_layout import atomic_write_json, run_paths
    from scaling_laws.running.launch import uses_cuda
    from scaling_laws.running.preemption import StopSignals
    from scaling_laws.training.distributed import DistContext
    from scaling_laws.validate import validate_experiment

    rank, local_rank, world_size = rank_from_env()
    os.environ["LOCAL_RANK"] = str(local_rank)  # DistContext.from_env and the device choice read it
    cfg = validate_experiment(json.loads(Path(config_path).read_text()))
    backend = "nccl" if uses_cuda(cfg) else "gloo"
    address = f"tcp://{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
    with StopSignals() as stop:  # installed before the rendezvous: a stop may come at any time
        torch_dist.init_process_group(backend, init_method=address, rank=rank, world_size=world_size,
                                      timeout=RENDEZVOUS_TIMEOUT)
        summary = load_function(train_ref)(cfg, run_paths(cfg), DistContext(rank, local_rank, world_size),
                                           stop_requested=stop)
    if rank == 0:
        atomic_write_json(Path(summary_path), summary)
    torch_dist.barrier()
    torch_dist.destroy_process_group()


def main(argv: list[str]) -> None:
    from scaling_laws.running.runner import setup_logging

    setup_logging()
    code = 0
    try:
        run_rank(*argv)
    except BaseException:  # noqa: BLE001 - any error: say so, exit non-zero, never hang the others
        rank = os.environ.get("RANK", os.environ.get("SLURM_PROCID", "?"))
        print(f"rank {rank} FAILED:\n{traceback.format_exc()}", file=sys.stdout)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
