"""Distributed context: rank, world size and the few collective calls the training loop makes.

Single-process runs get a context whose collectives are no-ops, so the loop has one code path.
"""
from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0  # global rank of this process
    local_rank: int = 0  # rank on this node (picks the GPU)
    world_size: int = 1  # processes training together

    @classmethod
    def from_env(cls) -> "DistContext":
        """The context of an initialised process group, else single-process."""
        if torch_dist.is_available() and torch_dist.is_initialized():
            return cls(torch_dist.get_rank(), int(os.environ.get("LOCAL_RANK", 0)), torch_dist.get_world_size())
        return cls()

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """DistributedDataParallel around the model when training on several processes."""
        if self.world_size == 1:
            return model
        device_ids = [device.index] if device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def maybe_no_sync(self, model: torch.nn.Module, sync: bool):
        """Skip the gradient all-reduce on all but the last micro-batch of an accumulation."""
        if self.world_size == 1 or sync:
            return nullcontext()
        return model.no_sync()

    def any(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on any rank."""
        if self.world_size == 1:
            return flag
        on_gpu = torch_dist.get_backend() == "nccl"  # NCCL reduces CUDA tensors only
        tensor = torch.tensor(float(flag), device=torch.device("cuda") if on_gpu else None)
        torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.MAX)
        return bool(tensor.item())

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """Mean of a scalar tensor across ranks, still on the device (reading it is a host sync)."""
        if self.world_size > 1:
            value = value.clone()
            torch_dist.all_reduce(value, op=torch_dist.ReduceOp.SUM)
            value /= self.world_size
        return value
