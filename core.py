"""The one architecture-agnostic training loop.

Any model that maps token ids (batch, seq) to logits (batch, seq, vocab) trains through
``train``; ``scaling_laws.models.build_model`` picks it from ``cfg.architecture``.
"""
from __future__ import annotations

import logging
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from scaling_laws.config import ExperimentConfig
from scaling_laws.counting import chinchilla_flops, tokens_processed
from scaling_laws.models import build_model, param_counts
from scaling_laws.results_layout import RunPaths
from scaling_laws.running.metadata import run_metadata
from scaling_laws.running.progress import progress_text
from scaling_laws.running.record import RunRecord
from scaling_laws.status import Outcome
from scaling_laws.training import data as data_module
from scaling_laws.training.device import autocast_dtype, select_device
from scaling_laws.training.distributed import DistContext
from scaling_laws.training.optim import build_optimizer, get_lr, total_optimizer_steps

log = logging.getLogger("scaling")


# ----------------------------------------------------------------------------- steps
class Trainer:
    """What one run needs at every step: model, optimiser, data, device and distributed context."""

    def __init__(self, cfg: ExperimentConfig, dist: DistContext):
        self.cfg, self.dist = cfg, dist
        self.device = select_device(cfg, dist)
        self.autocast_dtype = autocast_dtype(cfg, self.device)
        self.data = data_module.load_token_data(cfg.dataset, cfg.val_fraction, cfg.data_seed)
        data_module.check_fits(self.data, cfg.seq_length, cfg.vocab_size)
        self.raw_model = build_model(cfg).to(self.device)
        self.model = dist.wrap(self.raw_model, self.device)
        if cfg.compile:
            self.model = torch.compile(self.model)
        self.optimizer = build_optimizer(self.raw_model, cfg, self.device)
        self.total_steps = total_optimizer_steps(cfg, dist.world_size)
        self.val_batches = data_module.validation_batches(self.data, cfg.eval_sequences, cfg.batch_size,
                                                          cfg.seq_length)

    def autocast(self):
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def loss_on(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            logits = self.model(inputs.to(self.device, non_blocking=True))
        return F.cross_entropy(logits.float().flatten(0, 1), targets.to(self.device).flatten())

    def train_step(self, step: int, lr: float) -> tuple[float, float]:
        """One optimizer step over grad_accum micro-batches; returns (mean loss, grad norm)."""
        cfg = self.cfg
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        total_loss = torch.zeros((), device=self.device)
        for micro_step in range(cfg.gradient_accumulation_steps):
            inputs, targets = data_module.train_batch(self.data, cfg.batch_size, cfg.gradient_accumulation_steps,
                                                      cfg.seq_length, cfg.batch_seed, step, micro_step,
                                                      self.dist.rank, self.dist.world_size)
            is_last = micro_step == cfg.gradient_accumulation_steps - 1
            with self.dist.maybe_no_sync(self.model, sync=is_last):
                # Dividing by the accumulation count makes the summed gradient the mean over micro-batches.
                loss = self.loss_on(inputs, targets) / cfg.gradient_accumulation_steps
                loss.backward()
            total_loss += loss.detach()
        clip = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.raw_model.parameters(), clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return self.dist.mean(total_loss), float(grad_norm)

    @torch.no_grad()
    def evaluate(self) -> float:
        """Mean loss over the fixed validation windows."""
        self.model.eval()
        losses = [self.loss_on(inputs, targets) * len(inputs) for inputs, targets in self.val_batches]
        self.model.train()
        return float(sum(losses)) / sum(len(inputs) for inputs, _ in self.val_batches)

    def is_eval_step(self, step_done: int) -> bool:
        return step_done % self.cfg.eval_interval == 0 or step_done == self.total_steps


# ----------------------------------------------------------------------------- the loop
def train(cfg: ExperimentConfig, paths: RunPaths, dist: DistContext | None = None,
          stop_requested=lambda: False) -> dict:
    """Train one experiment, resuming from its checkpoint if one exists; returns the run summary.

    Its files (metrics CSV, config JSON, checkpoints, the ``.done`` marker last) are kept
    consistent by a RunRecord, called at four points: start, each step's row, checkpoint, finish.
    ``stop_requested()`` is polled after each step: when true, the run checkpoints and returns
    a summary with status "interrupted" (no marker).
    """
    dist = dist or DistContext.from_env()
    trainer = Trainer(cfg, dist)
    counts = param_counts(cfg)
    record = RunRecord(cfg, paths, dist, run_metadata(cfg, counts, trainer.data, dist, trainer.device))
    start_step, elapsed_s = record.start(trainer.raw_model, trainer.optimizer, trainer.device, trainer.total_steps)
    status, row = Outcome.INTERRUPTED, {}
    for step in range(start_step, trainer.total_steps):
        started = time.perf_counter()
        lr = get_lr(step, cfg, trainer.total_steps)
        loss, grad_norm = trainer.train_step(step, lr)
        val_loss = trainer.evaluate() if trainer.is_eval_step(step + 1) else None
        step_s = time.perf_counter() - started
        elapsed_s += step_s
        row = log_row(record, cfg, dist.world_size, counts.total, trainer.total_steps,
                      StepRecord(step + 1, loss, val_loss, lr, grad_norm, step_s, elapsed_s))
        if not math.isfinite(loss):
            status = Outcome.DIVERGED
            break
        if step + 1 == trainer.total_steps:
            status = Outcome.COMPLETE
            break
        stopping = dist.any(stop_requested())  # every rank must agree, or the others would hang
        record.checkpoint(trainer.raw_model, trainer.optimizer, step + 1, elapsed_s, force=stopping)
        if stopping:
            break
    return record.finish(status, row)


@dataclass(frozen=True)
class StepRecord:
    """What one optimizer step measured."""

    step_done: int  # optimizer steps completed, this one included
    loss: float
    val_loss: Optional[float]  # None when this step had no validation pass
    lr: float
    grad_norm: float
    step_s: float  # wall seconds of this step
    elapsed_s: float  # wall seconds of training so far, across resumes


def log_row(record: RunRecord, cfg: ExperimentConfig, world_size: int, total_params: int, total_steps: int,
            step: StepRecord) -> dict:
    """Append this step's CSV row (main process only), log eval steps with progress, and return the row."""
    tokens = tokens_processed(step.step_done, cfg.batch_size, cfg.gradient_accumulation_steps, world_size,
                              cfg.seq_length)
    tokens_per_second = cfg.tokens_per_step * world_size / step.step_s
    row = {"optimizer_step": step.step_done, "tokens_processed": tokens, "loss": f"{step.loss:.6f}",
           "val_loss": None if step.val_loss is None else f"{step.val_loss:.6f}",
           "learning_rate": f"{step.lr:.6e}", "grad_norm": f"{step.grad_norm:.6f}",
           "theoretical_flops_chinchilla": f"{chinchilla_flops(total_params, tokens):.6e}",
           "tokens_per_second": f"{tokens_per_second:.1f}", "elapsed_s": f"{step.elapsed_s:.3f}"}
    record.append(row)
    if step.val_loss is not None and record.dist.is_main:
        log.info("%s step %d/%d loss %.4f val_loss %.4f lr %.2e %.0f tok/s %s", cfg.label, step.step_done,
                 total_steps, step.loss, step.val_loss, step.lr, tokens_per_second,
                 progress_text(step.step_done, total_steps, step.elapsed_s))
    return row
