"""Steps trained since the last log, kept as device tensors and read back to the host in one copy.

``stage`` starts that copy without waiting for the device; ``collect`` waits for it and returns the
steps as records. Between the two the loop can queue the next step, so the GPU is not left idle while
the host writes rows (on the CPU the copy is immediate).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

import torch


@dataclass(frozen=True)
class StepRecord:
    """What one optimizer step measured."""

    step_done: int  # optimizer steps completed, this one included
    loss: float
    val_loss: Optional[float]  # None when this step had no validation pass
    lr: float
    grad_norm: float
    step_s: float  # wall seconds of this step (the mean over the steps logged with it)
    elapsed_s: float  # wall seconds of training so far, across resumes


@dataclass
class Staged:
    """A window whose values are on their way to the host."""

    steps: list  # (step_done, lr) of each step, in order
    values: torch.Tensor  # (steps, 2): loss and grad norm, on the host once ``ready`` has passed
    ready: Optional[torch.cuda.Event]  # recorded after the copy; None when the values are already on the host
    val_loss: Optional[float]


@dataclass
class StepWindow:
    """The steps since the last log; ``stage`` + ``collect`` read them back with one device sync."""

    mfu_scale: Optional[float] = None  # flops per token / device peak: MFU = tokens/s x this (None: unknown)
    pending: list = field(default_factory=list)  # (step_done, lr, loss tensor, grad-norm tensor)
    val_loss: Optional[float] = None  # the validation loss of the window's last step, if it had a pass
    staged: Optional[Staged] = None  # the window being read back
    started: float = field(default_factory=time.perf_counter)  # wall clock at the end of the last window read

    def add(self, step_done: int, lr: float, loss: torch.Tensor, grad_norm: torch.Tensor) -> None:
        self.pending.append((step_done, lr, loss, grad_norm))

    def stage(self) -> None:
        """Start copying the pending steps' values to the host; the window is empty after it."""
        assert self.staged is None, "collect the staged window before staging another"
        values = torch.stack([torch.stack((loss.float(), norm.float())) for _, _, loss, norm in self.pending])
        ready = None
        if values.is_cuda:
            host = torch.empty(values.shape, dtype=values.dtype, pin_memory=True)
            host.copy_(values, non_blocking=True)
            ready = torch.cuda.Event()
            ready.record()
            values = host
        self.staged = Staged([(s, lr) for s, lr, _, _ in self.pending], values, ready, self.val_loss)
        self.pending, self.val_loss = [], None

    def collect(self, elapsed_s: float) -> tuple[list[StepRecord], float]:
        """The staged steps as records (their wall time shared evenly), and the new elapsed seconds; waits
        for the device to finish them."""
        staged, self.staged = self.staged, None
        if staged.ready is not None:
            staged.ready.synchronize()
        now = time.perf_counter()
        step_s = (now - self.started) / len(staged.steps)
        records = []
        for index, ((step_done, lr), (loss, grad_norm)) in enumerate(zip(staged.steps, staged.values.tolist())):
            elapsed_s += step_s
            val_loss = staged.val_loss if index == len(staged.steps) - 1 else None
            records.append(StepRecord(step_done, loss, val_loss, lr, grad_norm, step_s, elapsed_s))
        self.started = now
        return records, elapsed_s

    def flush(self, elapsed_s: float) -> tuple[list[StepRecord], float]:
        """The pending steps as records, read back now."""
        self.stage()
        return self.collect(elapsed_s)
