"""Checkpoints: atomic to write, safe to load (``weights_only=True``), cheap to skip.

A checkpoint holds model and optimizer state, the number of optimizer steps done, the training
seconds so far, and the run record's own entries (how many CSV rows it belongs to and their
digest, the run identity): see running/record.py, the one caller. Batches are a pure function
of the step (see data.py) and dropout masks of (model_seed, step, rank) (regularisation.py), so
nothing else is needed for a resumed run to match an uninterrupted one.
"""
from __future__ import annotations

import io
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from scaling_laws.results_layout import atomic_write_bytes

CHECKPOINT_INTERVAL_ENV = "SCALING_CHECKPOINT_INTERVAL_S"
DEFAULT_INTERVAL_S = 600.0  # wall seconds between periodic checkpoints


class CheckpointError(Exception):
    """A checkpoint file that cannot be used; the message names the file and why, in our words."""


def interval_s() -> float:
    """Wall seconds between periodic checkpoints ($SCALING_CHECKPOINT_INTERVAL_S, default 600)."""
    return float(os.environ.get(CHECKPOINT_INTERVAL_ENV, DEFAULT_INTERVAL_S))


def save(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int, elapsed_s: float,
         record: dict[str, Any]) -> None:
    """Write the checkpoint via temp file + rename: a kill mid-write leaves the old one intact."""
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "elapsed_s": elapsed_s, "record": record}, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())


def load(path: Path, model: torch.nn.Module, device: torch.device) -> dict[str, Any]:
    """The checkpoint's contents, checked against ``model``'s parameter names and shapes.

    Raises CheckpointError for a file that does not load (truncated, corrupt, not ours) or holds
    another model. The message never repeats torch's advice to load with weights_only=False:
    that would run whatever code a corrupt or foreign file holds.
    """
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many types for a bad file
        raise CheckpointError(f"checkpoint {path} does not load ({type(error).__name__}; "
                              f"{_cause(error)})") from None
    if not isinstance(state, dict) or not {"model", "optimizer", "step", "elapsed_s"} <= set(state):
        raise CheckpointError(f"checkpoint {path} is not a checkpoint of this code (missing entries)")
    expected = {name: tuple(value.shape) for name, value in model.state_dict().items()}
    found = {name: tuple(value.shape) for name, value in state["model"].items()}
    if found != expected:
        differing = sorted(set(found) ^ set(expected) | {n for n in found.keys() & expected.keys()
                                                          if found[n] != expected[n]})
        raise CheckpointError(f"checkpoint {path} holds another model (parameters differ: {', '.join(differing[:5])})")
    return state


def _cause(error: Exception) -> str:
    """A short reason for a load failure, without torch's suggestions."""
    if isinstance(error, OSError):
        return error.strerror or "I/O error"
    if "weights_only" in str(error) or "Unpickl" in type(error).__name__:
        return "not a plain tensor checkpoint, or corrupt"
    return "truncated or corrupt"


def apply(state: dict[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[int, float]:
    """Load a checked checkpoint into model and optimizer; returns (steps done, elapsed seconds)."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["step"]), float(state["elapsed_s"])


def move_aside(path: Path) -> Path:
    """Rename a checkpoint that cannot be used to <label>.ckpt.bad-<UTC time>.pt, kept for inspection."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name.removesuffix('.pt')}.bad-{stamp}.pt")
    os.replace(path, target)
    return target
