"""Starting the ranks of a data-parallel run (``world_size`` > 1) and watching them to the end.

The attempt (runner.py: claim, log, heartbeat, stop signals, requeue) stays one process, this one;
it starts the ranks as child processes, each ``python -m scaling_laws.running.rank`` training with
core.train over a process group:

- under a Slurm task with several tasks (``submit_lstm_job.sh``: ``--ntasks-per-node=2``), with
  ``srun``: rank, local rank and world size come from SLURM_PROCID, SLURM_LOCALID, SLURM_NTASKS; the
  rendezvous is this host and a port derived from the job id, so two array tasks on one node differ;
- elsewhere, as local processes with RANK, LOCAL_RANK and WORLD_SIZE, and a free port.

gloo on the CPU, NCCL on CUDA. On CUDA with fewer visible GPUs than ``world_size`` asks for, fewer
ranks each accumulate more micro-batches (the global batch is unchanged); the log says so and the
config JSON's ``world_size`` records the ranks used. A stop signal reaching this process is passed
on to the ranks, which agree, checkpoint and return "interrupted". A rank that exits non-zero takes
the others down (SIGTERM, then SIGKILL after KILL_GRACE_S) and the attempt fails, naming the rank.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from scaling_laws.config import ExperimentConfig
from scaling_laws.results_layout import REPO_ROOT, RunPaths, atomic_write_json, read_json
from scaling_laws.running.parallel import visible_gpu_count

log = logging.getLogger("scaling")

POLL_S = 0.2  # how often the ranks' exit and the stop flag are checked
KILL_GRACE_S = 10.0  # after a rank died: seconds the others get to end on SIGTERM before SIGKILL
SLURM_PORT_BASE, SLURM_PORT_SPAN = 20000, 20000  # rendezvous port under Slurm: BASE + job id mod SPAN


class RankFailed(RuntimeError):
    """A rank of a data-parallel run exited with an error; the others were stopped."""


def uses_cuda(cfg: ExperimentConfig) -> bool:
    """Whether the ranks train on CUDA (training/device.py's rule, read without initialising CUDA here)."""
    return cfg.device == "cuda" or (cfg.device == "auto" and visible_gpu_count() > 0)


def ranks_here(cfg: ExperimentConfig, gpus: int, slurm_tasks: int = 0) -> int:
    """world_size, capped at one rank per visible GPU on CUDA and at the Slurm task's tasks under srun (0: no
    cap), at a count that divides the step's micro-batches (world_size x gradient_accumulation_steps) so that
    every rank takes an equal share."""
    limits = [limit for limit in (gpus, slurm_tasks) if limit > 0]
    most = min([cfg.world_size, *limits])
    micro_batches = cfg.world_size * cfg.gradient_accumulation_steps
    return max(r for r in range(1, most + 1) if micro_batches % r == 0)


def under_slurm_tasks() -> bool:
    """Inside a Slurm allocation of several tasks, where srun starts the ranks."""
    return int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1 and "SLURM_JOB_ID" in os.environ


def slurm_port(job_id: str) -> int:
    """The rendezvous port of a Slurm job: each array task has its own job id, so its own port."""
    return SLURM_PORT_BASE + int(job_id) % SLURM_PORT_SPAN


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rank_command(config_path: Path, summary_path: Path, train_ref: str) -> list[str]:
    return [sys.executable, "-m", "scaling_laws.running.rank", str(config_path), str(summary_path), train_ref]


def child_env(**extra: str) -> dict[str, str]:
    """The ranks' environment: this one, the repository importable, and the given variables."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{REPO_ROOT}{os.pathsep + path if path else ''}", **extra}


def start_local(command: list[str], ranks: int) -> list[subprocess.Popen]:
    """``ranks`` local processes, each with its share of the CPU threads."""
    from scaling_laws.training.cpu_threads import THREADS_ENV, available_cpus
    threads = os.environ.get(THREADS_ENV) or str(max(1, available_cpus() // ranks))
    common = dict(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), WORLD_SIZE=str(ranks))
    return [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=child_env(**common, RANK=str(rank), LOCAL_RANK=str(rank),
                                           **{THREADS_ENV: threads}))
            for rank in range(ranks)]


def start_srun(command: list[str], ranks: int) -> list[subprocess.Popen]:
    """One srun step of ``ranks`` tasks; --kill-on-bad-exit ends them all when one fails."""
    srun = ["srun", f"--ntasks={ranks}", "--kill-on-bad-exit=1", "--label", *command]
    env = child_env(MASTER_ADDR=socket.gethostname(), MASTER_PORT=str(slurm_port(os.environ["SLURM_JOB_ID"])))
    log.info("starting %d ranks: %s", ranks, " ".join(srun))
    return [subprocess.Popen(srun, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)]


def pump_output(process: subprocess.Popen, prefix: str) -> threading.Thread:
    """Copy a rank's output into this process's stdout (and so into the run's log), line by line."""
    def copy() -> None:
        for line in process.stdout:
            sys.stdout.write(prefix + line)
            sys.stdout.flush()
    thread = threading.Thread(target=copy, daemon=True)
    thread.start()
    return thread


def stop_all(processes: list[subprocess.Popen], grace_s: float = KILL_GRACE_S) -> None:
    """SIGTERM every process still running, SIGKILL whichever is left after ``grace_s``."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + grace_s
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def exit_text(name: str, code: int) -> str:
    """'rank 1 exited with code -9 (SIGKILL)'."""
    killed = f" ({signal.Signals(-code).name})" if code < 0 and -code in signal.valid_signals() else ""
    return f"{name} exited with code {code}{killed}"


def failures(processes: list[subprocess.Popen], names: list[str]) -> str:
    """The ranks that ended with an error, killed ones first (the others usually fail because of them)."""
    failed = sorted((p.returncode, name) for name, p in zip(names, processes) if p.returncode not in (None, 0))
    return ", ".join(exit_text(name, code) for code, name in failed)


def watch(processes: list[subprocess.Popen], stop_requested: Callable[[], bool], names: list[str]) -> None:
    """Wait for every process; pass a stop on (SIGUSR1, once); RankFailed when one exits non-zero."""
    forwarded = False
    while any(process.poll() is None for process in processes):
        if failures(processes, names):
            time.sleep(POLL_S)  # a peer's death makes gloo fail the others at once: let them all report
            message = failures(processes, names)
            stop_all(processes)
            raise RankFailed(f"{message} (output above); stopped the other ranks")
        if not forwarded and stop_requested():
            for process in processes:
                process.send_signal(signal.SIGUSR1)
            forwarded = True
        time.sleep(POLL_S)
    if failures(processes, names):
        raise RankFailed(f"{failures(processes, names)} (output above)")


def plan_ranks(cfg: ExperimentConfig) -> tuple[int, bool]:
    """(ranks to start, whether srun starts them); the log says when there are fewer than world_size."""
    gpus, slurm = visible_gpu_count() if uses_cuda(cfg) else 0, under_slurm_tasks()
    ranks = ranks_here(cfg, gpus, int(os.environ["SLURM_NTASKS"]) if slurm else 0)
    if ranks < cfg.world_size:
        log.warning("%s/%s asks for world_size=%d but %s: training on %d rank(s), each accumulating %d "
                    "micro-batches (the global batch of %d sequences is unchanged)", cfg.folder_name, cfg.label,
                    cfg.world_size, f"{os.environ['SLURM_NTASKS']} Slurm tasks" if slurm else f"{gpus} GPU(s)",
                    ranks, cfg.world_size * cfg.gradient_accumulation_steps // ranks, cfg.target_effective_batch_size)
    return ranks, slurm


def train_on_ranks(cfg: ExperimentConfig, paths: RunPaths, train_ref: str = "core:train",
                   stop_requested: Callable[[], bool] = lambda: False, train_here: Optional[Callable] = None) -> dict:
    """Train ``cfg`` on its ranks (see the module docstring); returns rank 0's summary.

    ``train_ref`` ('module:function') is what each rank calls as core.train; ``train_here`` that function,
    called in this process when this machine runs a single rank (one GPU for a world_size-2 run).
    """
    ranks, slurm = plan_ranks(cfg)
    if ranks == 1 and train_here is not None:
        return train_here(cfg, paths, stop_requested=stop_requested)
    with tempfile.TemporaryDirectory(prefix="ranks-") as work:
        config_path, summary_path = Path(work) / "config.json", Path(work) / "summary.json"
        atomic_write_json(config_path, cfg.to_dict())
        command = rank_command(config_path, summary_path, train_ref)
        processes = start_srun(command, ranks) if slurm else start_local(command, ranks)
        names = ["srun (the ranks' step)"] if slurm else [f"rank {rank}" for rank in range(ranks)]
        pumps = [pump_output(p, "" if slurm or rank == 0 else f"[rank {rank}] ") for rank, p in enumerate(processes)]
        try:
            watch(processes, stop_requested, names)
        finally:
            stop_all(processes)
            for pump in pumps:
                pump.join(timeout=5)
        return read_json(summary_path)
