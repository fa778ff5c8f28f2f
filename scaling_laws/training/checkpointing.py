"""Checkpoints: atomic to write, safe to load (``weights_only=True``), cheap to skip.

A checkpoint holds model and optimizer state, the number of optimizer steps done and the
training seconds so far. Batches are a pure function of the step (see data.py) and the model
has no dropout, so nothing else is needed for a resumed run to match an uninterrupted one.
"""
from __future__ import annotations

import io
import os
import time
from pathlib import Path

import torch

from scaling_laws.results_layout import atomic_write_bytes

CHECKPOINT_INTERVAL_ENV = "SCALING_CHECKPOINT_INTERVAL_S"
DEFAULT_INTERVAL_S = 600.0  # wall seconds between periodic checkpoints


def save(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int,
         elapsed_s: float) -> None:
    """Write the checkpoint via temp file + rename: a kill mid-write leaves the old one intact."""
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "step": step, "elapsed_s": elapsed_s}, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())


def restore(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
            device: torch.device) -> tuple[int, float]:
    """Load a checkpoint into model and optimizer if one exists; returns (steps done, elapsed seconds)."""
    path = Path(path)
    if not path.exists():
        return 0, 0.0
    state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["step"]), float(state["elapsed_s"])


class PeriodicSaver:
    """Decides when a wall-time checkpoint is due and writes it (main process only)."""

    def __init__(self, path: Path, is_main: bool, interval_s: float | None = None):
        self.path, self.is_main = Path(path), is_main
        self.interval_s = float(os.environ.get(CHECKPOINT_INTERVAL_ENV, DEFAULT_INTERVAL_S)
                                if interval_s is None else interval_s)
        self.last_save = time.monotonic()

    def due(self) -> bool:
        return time.monotonic() - self.last_save >= self.interval_s

    def save(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int, elapsed_s: float) -> None:
        if self.is_main:
            save(self.path, model, optimizer, step, elapsed_s)
        self.last_save = time.monotonic()
