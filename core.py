"""The one architecture-agnostic training loop.

Any model that maps token ids (batch, seq) to logits (batch, seq, vocab) trains through
``train``; ``scaling_laws.models.build_model`` picks it from ``cfg.architecture``.
"""
from __future__ import annotations

import logging
import math
from contextlib import nullcontext
from typing import Optional

import torch

from scaling_laws.config import ExperimentConfig, has_dropout
from scaling_laws.counting import chinchilla_flops, flops_with_attention, peak_bf16_flops, tokens_processed
from scaling_laws.models import architecture, build_model, param_counts
from scaling_laws.models.parametrization import describe_mup, param_groups
from scaling_laws.results_layout import RunPaths
from scaling_laws.running.metadata import run_metadata
from scaling_laws.running.progress import progress_text
from scaling_laws.running.record import RunRecord
from scaling_laws.status import Outcome
from scaling_laws.training import data as data_module
from scaling_laws.training.compile_cache import use_shared_compile_cache
from scaling_laws.training.device import autocast_dtype, select_device, uses_cuda_graphs
from scaling_laws.training.distributed import DistContext
from scaling_laws.training.memory_fit import device_memory_gb, memory_record, resize_micro_batch, step_fitting_memory
from scaling_laws.training.optim import build_optimizer, clipped_step, get_lr, total_optimizer_steps
from scaling_laws.training.regularisation import seed_dropout, smoothed_and_plain_loss, token_cross_entropy
from scaling_laws.training.prefetch import prefetched
from scaling_laws.training.step_window import StepRecord, StepWindow

log = logging.getLogger("scaling")


# ----------------------------------------------------------------------------- steps
class Trainer:
    """What one run needs at every step: model, optimiser, data, device and distributed context.

    On CUDA the forward pass and the loss run as one compiled graph (``compile=auto``), so no fp32
    copy of the logits is kept; batches are cut ahead on pinned memory; a step returns device
    tensors, and the loop reads them back only when it logs (one host sync per window of steps).
    """

    def __init__(self, cfg: ExperimentConfig, dist: DistContext):
        self.cfg, self.dist = cfg, dist
        self.device = select_device(cfg, dist)
        self.device_memory_gb = device_memory_gb(self.device)
        # Sized for the declared gpu_memory_gb; sized again for this device if its memory differs.
        self.cfg = cfg = resize_micro_batch(cfg, self.device_memory_gb)
        self.autocast_dtype = autocast_dtype(cfg, self.device)
        self.data = data_module.load_token_data(cfg.dataset, cfg.val_fraction, cfg.data_seed)
        data_module.check_fits(self.data, cfg.seq_length, cfg.vocab_size)
        data_module.warn_if_repeating(self.data, cfg)
        self.raw_model = build_model(cfg).to(self.device)
        self.model = dist.wrap(self.raw_model, self.device)
        compiled = cfg.compile == "on" or (cfg.compile == "auto" and self.device.type == "cuda")
        self.cuda_graphs = uses_cuda_graphs(cfg, self.device, dist.world_size, compiled)
        mode = "reduce-overhead" if self.cuda_graphs else None
        if compiled:  # before the first compilation: a run of a shape compiled before, on any node, starts warm
            cache = use_shared_compile_cache()
            if dist.is_main:
                log.info("compile cache: %s", cache)
        self.train_loss = torch.compile(self._loss, mode=mode) if compiled else self._loss
        self.optimizer = build_optimizer(param_groups(self.raw_model, cfg), cfg, self.device)
        self.parameters = list(self.raw_model.parameters())
        self.total_steps = total_optimizer_steps(cfg)
        self.val_batches = data_module.validation_batches(self.data, cfg.eval_sequences, cfg.batch_size,
                                                          cfg.seq_length)

    def autocast(self):
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def _loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(objective, mean next-token cross-entropy) of the training model (compiled with it on CUDA): the
        objective is label-smoothed when label_smoothing > 0, else the cross-entropy itself."""
        with self.autocast():
            logits = self.model(inputs)
        return smoothed_and_plain_loss(logits.float().flatten(0, 1), targets.flatten(), self.cfg.label_smoothing)

    def step_batches(self, step: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's micro-batches of optimizer step ``step`` (0-based), on the host."""
        cfg = self.cfg  # the micro-batch may change during the run (memory_fit): read it every step
        accumulation = accumulation_per_rank(cfg, self.dist.world_size)
        return [data_module.train_batch(self.data, cfg.batch_size, accumulation, cfg.seq_length,
                                        cfg.batch_seed, step, micro_step, self.dist.rank, self.dist.world_size)
                for micro_step in range(accumulation)]

    def batches_from(self, start_step: int):
        """Every step's micro-batches from ``start_step`` on, made ahead on pinned memory on CUDA."""
        return prefetched(self.step_batches, range(start_step, self.total_steps), pin=self.device.type == "cuda")

    def train_step(self, batches, lr: float, step: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Optimizer step ``step`` (0-based) over its micro-batches at schedule value ``lr`` (each group scaled
        by its lr_multiplier); (mean plain cross-entropy, grad norm) as device tensors."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group["lr_multiplier"]
        if has_dropout(self.cfg):  # masks a function of (model_seed, step, rank): resume and DDP stay exact
            seed_dropout(self.cfg.model_seed, step, self.dist.rank)
        # A graph replay may reuse the last one's outputs: gradients accumulated over several micro-batches
        # go into buffers kept between steps; with one micro-batch, .grad takes the backward's outputs.
        keep_grads = self.cuda_graphs and len(batches) > 1
        if keep_grads and self.parameters[0].grad is None:
            for parameter in self.parameters:
                parameter.grad = torch.zeros_like(parameter)
        total_loss = torch.zeros((), device=self.device)
        for micro_step, (inputs, targets) in enumerate(batches):
            is_last = micro_step == len(batches) - 1
            if self.cuda_graphs:  # a new replay may reuse the last one's output memory: those were consumed
                torch.compiler.cudagraph_mark_step_begin()
            with self.dist.maybe_no_sync(self.model, sync=is_last):
                # Dividing by the accumulation count makes the summed gradient the mean over micro-batches.
                objective, loss = self.train_loss(inputs.to(self.device, non_blocking=True),
                                                  targets.to(self.device, non_blocking=True))
                (objective / len(batches)).backward()
            total_loss += loss.detach() / len(batches)
        grad_norm = clipped_step(self.optimizer, self.parameters, self.cfg.grad_clip)
        self.optimizer.zero_grad(set_to_none=not keep_grads)
        return self.dist.mean(total_loss), grad_norm

    @torch.no_grad()
    def evaluate(self) -> float:
        """Mean loss over the fixed validation windows, on the eager model: evaluating never recompiles
        the training graph (grad mode and a ragged last batch would)."""
        total = torch.zeros((), device=self.device)
        self.raw_model.eval()  # no dropout while evaluating
        for inputs, targets in self.val_batches:
            with self.autocast():
                logits = self.raw_model(inputs.to(self.device))
            total += summed_cross_entropy(logits.flatten(0, 1), targets.to(self.device).flatten())
        self.raw_model.train()
        return float(total) / sum(targets.numel() for _, targets in self.val_batches)

    def is_eval_step(self, step_done: int) -> bool:
        return step_done % self.cfg.eval_interval == 0 or step_done == self.total_steps

    def is_log_step(self, step_done: int) -> bool:
        """Steps after which the pending steps are read back and written (the loop's one host sync)."""
        return step_done % LOG_EVERY_STEPS == 0 or self.is_eval_step(step_done)


def accumulation_per_rank(cfg: ExperimentConfig, ranks: int) -> int:
    """Micro-batches per step on each of ``ranks`` processes, keeping the global batch: cfg.world_size ranks
    accumulate gradient_accumulation_steps; fewer ranks (fewer GPUs than asked for) accumulate more."""
    sequences = cfg.gradient_accumulation_steps * cfg.world_size
    if sequences % ranks:
        raise ValueError(f"{ranks} ranks cannot share world_size={cfg.world_size} x gradient_accumulation_steps="
                         f"{cfg.gradient_accumulation_steps} micro-batches of a step equally")
    return sequences // ranks


LOG_EVERY_STEPS = 10  # steps read back from the device together: one host sync per window
EVAL_CHUNK_TOKENS = 4096  # evaluation upcasts this many tokens' logits to fp32 at a time


def summed_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Summed fp32 cross-entropy over (tokens, vocab) logits, a chunk of tokens at a time, so that no
    fp32 copy of all the logits exists (at vocabulary 50,304 that copy would outweigh a small model)."""
    return sum(token_cross_entropy(chunk.float(), target).sum()
               for chunk, target in zip(logits.split(EVAL_CHUNK_TOKENS), targets.split(EVAL_CHUNK_TOKENS)))


# ----------------------------------------------------------------------------- the loop
def train(cfg: ExperimentConfig, paths: RunPaths, dist: DistContext | None = None,
          stop_requested=lambda: False) -> dict:
    """Train one experiment, resuming from its checkpoint if one exists; returns the run summary.

    Its files (metrics CSV, config JSON, checkpoints, the ``.done`` marker last) are kept
    consistent by a RunRecord, called at four points: start, each logged row, checkpoint, finish.
    ``stop_requested()`` is polled after each step (with several ranks, whenever steps are logged:
    every LOG_EVERY_STEPS steps at most); when true, the run checkpoints and returns a summary with
    status "interrupted" (no marker). With one process a window's rows are read back while the next step
    runs and written once it is queued, unless the window ends the run, stops it or is checkpointed.
    """
    dist = dist or DistContext.from_env()
    trainer = Trainer(cfg, dist)
    cfg, counts = trainer.cfg, param_counts(cfg)
    if cfg.use_mup and dist.is_main:
        log.info(describe_mup(cfg))
    memory = memory_record(cfg, trainer.device_memory_gb, dist.world_size)
    record = RunRecord(cfg, paths, dist, {**run_metadata(cfg, counts, trainer.data, dist, trainer.device),
                                          "memory": memory})
    start_step, elapsed_s = record.start(trainer.raw_model, trainer.optimizer, trainer.device, trainer.total_steps)
    if start_step > 0:  # a resumed attempt records the micro-batch it uses (this device may have sized it anew)
        record.note_micro_batch(cfg, memory)

    def fell_back(change: dict) -> None:
        memory["oom_fallbacks"].append(change)
        memory.update(batch_size=trainer.cfg.batch_size, gradient_accumulation_steps=trainer.cfg.gradient_accumulation_steps)
        record.note_micro_batch(trainer.cfg, memory)

    status, row = train_steps(trainer, record, counts.total, start_step, elapsed_s, stop_requested, fell_back)
    return record.finish(status, row)


def train_steps(trainer: Trainer, record: RunRecord, total_params: int, start_step: int, elapsed_s: float,
                stop_requested, fell_back) -> tuple[str, dict]:
    """Steps ``start_step`` on until the run completes, diverges or is asked to stop; (status, last row)."""
    cfg, dist = trainer.cfg, trainer.dist
    window = StepWindow(mfu_scale=mfu_scale(cfg, trainer.device, trainer.autocast_dtype))

    def write(steps: list[StepRecord]) -> tuple[dict, bool]:
        return log_rows(record, trainer.cfg, total_params, trainer.total_steps, steps, window.mfu_scale)

    row = {}
    for step, batches in zip(range(start_step, trainer.total_steps), trainer.batches_from(start_step)):
        lr = get_lr(step, cfg, trainer.total_steps)
        window.add(step + 1, lr, *step_fitting_memory(trainer, batches, lr, step, fell_back))
        if window.staged is not None:  # the last window, written now that this step is queued behind it
            steps, elapsed_s = window.collect(elapsed_s)
            row, diverged = write(steps)
            if diverged:
                return Outcome.DIVERGED, row
        if trainer.is_eval_step(step + 1):
            window.val_loss = trainer.evaluate()
        alone_stopping = dist.world_size == 1 and stop_requested()  # one process may ask at every step
        if not (trainer.is_log_step(step + 1) or alone_stopping):
            continue
        # Several ranks agree when they log (an all-reduce), or one would stop and the others hang.
        stopping = alone_stopping or (dist.world_size > 1 and dist.any(stop_requested()))
        last = step + 1 == trainer.total_steps
        if dist.world_size == 1 and not (last or stopping or record.checkpoint_due()):
            window.stage()  # read back while the next step runs; written after it is queued
            continue
        steps, elapsed_s = window.flush(elapsed_s)
        row, diverged = write(steps)
        if diverged or last:
            return (Outcome.DIVERGED if diverged else Outcome.COMPLETE), row
        record.checkpoint(trainer.raw_model, trainer.optimizer, step + 1, elapsed_s, force=stopping)
        if stopping:
            break
    return Outcome.INTERRUPTED, row


def mfu_scale(cfg: ExperimentConfig, device: torch.device, autocast: Optional[torch.dtype]) -> Optional[float]:
    """Model FLOPs per token over the device's bf16 peak, for bf16 runs on a known GPU; else None."""
    count = architecture(cfg.architecture).flops_per_token
    if device.type != "cuda" or autocast != torch.bfloat16 or count is None:
        return None
    peak = peak_bf16_flops(torch.cuda.get_device_name(device))
    return None if peak is None else count(cfg) / peak


def log_rows(record: RunRecord, cfg: ExperimentConfig, total_params: int, total_steps: int,
             steps: list[StepRecord], mfu_per_token_s: Optional[float]) -> tuple[dict, bool]:
    """Write each step's row up to and including the first non-finite loss; (last row, diverged)."""
    row = {}
    for step in steps:
        row = log_row(record, cfg, total_params, total_steps, step, mfu_per_token_s)
        if not math.isfinite(step.loss):
            return row, True
    return row, False


def log_row(record: RunRecord, cfg: ExperimentConfig, total_params: int, total_steps: int,
            step: StepRecord, mfu_per_token_s: Optional[float] = None) -> dict:
    """Append this step's CSV row (main process only), log eval steps with progress, and return the row."""
    tokens = tokens_processed(step.step_done, cfg.batch_size, cfg.gradient_accumulation_steps, cfg.world_size,
                              cfg.seq_length)
    tokens_per_second = cfg.tokens_per_step / step.step_s
    count = architecture(cfg.architecture).flops_per_token
    with_attention = flops_with_attention(None if count is None else count(cfg), tokens)
    row = {"optimizer_step": step.step_done, "tokens_processed": tokens, "loss": f"{step.loss:.6f}",
           "val_loss": None if step.val_loss is None else f"{step.val_loss:.6f}",
           "learning_rate": f"{step.lr:.6e}", "grad_norm": f"{step.grad_norm:.6f}",
           "theoretical_flops_chinchilla": f"{chinchilla_flops(total_params, tokens):.6e}",
           "flops_with_attention": None if with_attention is None else f"{with_attention:.6e}",
           "tokens_per_second": f"{tokens_per_second:.1f}", "elapsed_s": f"{step.elapsed_s:.3f}",
           "mfu": None if mfu_per_token_s is None else f"{tokens_per_second * mfu_per_token_s:.4f}"}
    record.append(row)
    if step.val_loss is not None and record.dist.is_main:
        mfu = "" if mfu_per_token_s is None else f" MFU {tokens_per_second * mfu_per_token_s:.1%}"
        log.info("%s step %d/%d loss %.4f val_loss %.4f lr %.2e %.0f tok/s%s %s", cfg.label, step.step_done,
                 total_steps, step.loss, step.val_loss, step.lr, tokens_per_second, mfu,
                 progress_text(step.step_done, total_steps, step.elapsed_s))
    return row
