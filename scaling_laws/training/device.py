"""The device a run trains on and the precision it computes in."""
from __future__ import annotations

from typing import Optional

import torch

from scaling_laws.config import ExperimentConfig, replays_cuda_graphs
from scaling_laws.training.cpu_threads import configure_cpu_threads
from scaling_laws.training.distributed import DistContext


def select_device(cfg: ExperimentConfig, dist: DistContext) -> torch.device:
    """CUDA (this rank's GPU, TF32 matmuls) when asked for or available under auto, else the CPU."""
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was asked for but torch sees no CUDA device; use device=auto or cpu")
    if not use_cuda:
        configure_cpu_threads(conservative=cfg.force_conservative_cpu)
        return torch.device("cpu")
    torch.cuda.set_device(dist.local_rank)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    return torch.device("cuda", dist.local_rank)


def autocast_dtype(cfg: ExperimentConfig, device: torch.device) -> Optional[torch.dtype]:
    """bf16 autocast on CUDA (dtype auto or bfloat16), fp32 on CPU unless bfloat16 is asked for."""
    if cfg.dtype == "bfloat16" or (cfg.dtype == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def uses_cuda_graphs(cfg: ExperimentConfig, device: torch.device, world_size: int, compiled: bool) -> bool:
    """Whether the compiled step is replayed as CUDA graphs (torch.compile mode reduce-overhead): it removes
    the per-kernel launch cost that bounds small models. The rule is config.replays_cuda_graphs; here it
    applies only where the step is compiled on CUDA."""
    return compiled and device.type == "cuda" and replays_cuda_graphs(cfg, world_size)
