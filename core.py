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
from scaling_laws.counting import ParamCounts, chinchilla_flops, tokens_processed
from scaling_laws.models import build_model, param_counts
from scaling_laws.results_layout import MetricsCsv, RunPaths, atomic_write_json, mark_done
from scaling_laws.running.metadata import run_metadata
from scaling_laws.status import Outcome
from scaling_laws.training import checkpointing
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
        data_module.warn_if_repeating(self.data, cfg)
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

    Writes the metrics CSV, config JSON and checkpoints as it goes and the ``.done`` marker last.
    ``stop_requested()`` is polled after each step: when true, the run checkpoints and returns
    a summary with status "interrupted" (no marker).
    """
    dist = dist or DistContext.from_env()
    trainer = Trainer(cfg, dist)
    start_step, elapsed_s = checkpointing.restore(paths.checkpoint, trainer.raw_model, trainer.optimizer,
                                                  trainer.device)
    counts = param_counts(cfg)
    metrics = open_metrics(paths, cfg, counts, trainer, start_step)
    saver = checkpointing.PeriodicSaver(paths.checkpoint, dist.is_main)
    status, row = Outcome.INTERRUPTED, {}
    for step in range(start_step, trainer.total_steps):
        started = time.perf_counter()
        lr = get_lr(step, cfg, trainer.total_steps)
        loss, grad_norm = trainer.train_step(step, lr)
        val_loss = trainer.evaluate() if trainer.is_eval_step(step + 1) else None
        step_s = time.perf_counter() - started
        elapsed_s += step_s
        row = log_row(metrics, cfg, dist.world_size, counts.total,
                      StepRecord(step + 1, loss, val_loss, lr, grad_norm, step_s, elapsed_s))
        if not math.isfinite(loss):
            status = Outcome.DIVERGED
            break
        if step + 1 == trainer.total_steps:
            status = Outcome.COMPLETE
            break
        stopping = dist.any(stop_requested())  # every rank must agree, or the others would hang
        if stopping or saver.due():
            saver.save(trainer.raw_model, trainer.optimizer, step + 1, elapsed_s)
        if stopping:
            break
    return finish(paths, metrics, dist, status, row)


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


def open_metrics(paths: RunPaths, cfg: ExperimentConfig, counts: ParamCounts, trainer: Trainer,
                 start_step: int) -> Optional[MetricsCsv]:
    """Main process: write the run's config JSON and open its CSV, cut back to ``start_step``."""
    if not trainer.dist.is_main:
        return None
    atomic_write_json(paths.config_json, run_metadata(cfg, counts, trainer.data, trainer.dist,
                                                      trainer.device))
    metrics = MetricsCsv(paths.csv)
    metrics.start(keep_through_step=start_step)
    return metrics


def log_row(metrics: Optional[MetricsCsv], cfg: ExperimentConfig, world_size: int, total_params: int,
            record: StepRecord) -> dict:
    """Append this step's CSV row (main process only), log eval steps, and return the row."""
    tokens = tokens_processed(record.step_done, cfg.batch_size, cfg.gradient_accumulation_steps, world_size,
                              cfg.seq_length)
    tokens_per_second = cfg.tokens_per_step * world_size / record.step_s
    row = {"optimizer_step": record.step_done, "tokens_processed": tokens, "loss": f"{record.loss:.6f}",
           "val_loss": None if record.val_loss is None else f"{record.val_loss:.6f}",
           "learning_rate": f"{record.lr:.6e}", "grad_norm": f"{record.grad_norm:.6f}",
           "theoretical_flops_chinchilla": f"{chinchilla_flops(total_params, tokens):.6e}",
           "tokens_per_second": f"{tokens_per_second:.1f}", "elapsed_s": f"{record.elapsed_s:.3f}"}
    if metrics is not None:
        metrics.append(row)
        if record.val_loss is not None:
            log.info("%s step %d loss %.4f val_loss %.4f lr %.2e %.0f tok/s", cfg.label, record.step_done,
                     record.loss, record.val_loss, record.lr, tokens_per_second)
    return row


def finish(paths: RunPaths, metrics: MetricsCsv | None, dist: DistContext, status: str, last: dict) -> dict:
    """Close the CSV; on a finished run write the .done marker last and drop the checkpoint."""
    summary = {"status": status, "optimizer_steps": last.get("optimizer_step", 0),
               "tokens_processed": last.get("tokens_processed", 0),
               "final_loss": float(last["loss"]) if last else None,
               "final_val_loss": float(last["val_loss"]) if last.get("val_loss") else None,
               "elapsed_s": float(last["elapsed_s"]) if last else 0.0}
    if metrics is not None:
        metrics.close()
    if dist.is_main and status in (Outcome.COMPLETE, Outcome.DIVERGED):
        mark_done(paths, summary)
        paths.checkpoint.unlink(missing_ok=True)
    return summary
