"""The run record: the one owner of the consistency of a run's CSV rows, checkpoint, config JSON and .done marker.

``core.train`` calls it at four points only: ``start`` (resume or start over), ``append`` (a step's
row), ``checkpoint`` and ``finish``. The rules it keeps:

- Rows are flushed as written; a checkpoint first makes them durable (fsync), then records how
  many rows it belongs to and their sha256, and is renamed into place. The .done marker, written
  last, records the same for the whole CSV.
- On resume the CSV must hold exactly the checkpoint's rows, intact; rows after them (written
  after the checkpoint) are dropped. Fewer or different rows (a torn row, rows a crash kept off
  the disk) mean the checkpoint describes a history that is gone: the run starts again from step 0
  and says so in its log.
- A checkpoint that does not load is moved aside (kept, named in the log) and the run starts again.
- A checkpoint written under another config (identity.py), another world size or other data is
  never resumed: the attempt refuses, naming what changed.
- Only the main process writes; every rank loads the checkpoint, and all agree (a collective)
  on resuming or starting over before anything is changed on disk.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Optional

import torch

from scaling_laws.config import ExperimentConfig
from scaling_laws.counting import tokens_processed
from scaling_laws.results_layout import CSV_COLUMNS, MetricsCsv, RunPaths, atomic_write_json, mark_done
from scaling_laws.running.identity import RunMismatch, identity_changes, identity_fields, identity_hash, \
    mismatch_message
from scaling_laws.status import Outcome
from scaling_laws.training import checkpointing
from scaling_laws.training.distributed import DistContext

log = logging.getLogger("scaling")


class RunRecord:
    """A run's files, kept consistent with each other across crashes, kills and requeues."""

    def __init__(self, cfg: ExperimentConfig, paths: RunPaths, dist: DistContext, metadata: dict[str, Any]):
        self.cfg, self.paths, self.dist = cfg, paths, dist
        self.metadata = {**metadata, "identity": identity_hash(cfg.to_dict())}  # config_<label>.json
        self.metrics = MetricsCsv(paths.csv) if dist.is_main else None
        self.interval_s = checkpointing.interval_s()
        self.last_save = time.monotonic()

    # ------------------------------------------------------------------ start
    def start(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, device: torch.device,
              total_steps: int) -> tuple[int, float]:
        """Resume from the checkpoint when it and the CSV agree, else start over; returns (steps done, elapsed s)."""
        state, problem = self._read_checkpoint(model, device, total_steps)
        resumable = state is not None and (self.metrics is None or self.metrics.resume(
            state["record"]["csv_rows"], state["record"]["csv_sha256"]))
        if self.dist.world_size > 1:  # every rank has read the checkpoint; now they agree before anything changes
            resumable = not self.dist.any(not resumable)
        self.last_save = time.monotonic()
        if resumable:
            step, elapsed_s = checkpointing.apply(state, model, optimizer)
            self._log_resumed(step, total_steps)
            return step, elapsed_s
        if self.dist.is_main:
            self._start_over(state, problem, total_steps)
        return 0, 0.0

    def _read_checkpoint(self, model, device, total_steps) -> tuple[Optional[dict], Optional[str]]:
        """(checkpoint, None) if it can be resumed as far as it alone tells, else (None, why not)."""
        path = self.paths.checkpoint
        if not path.exists():
            return None, None
        try:
            state = checkpointing.load(path, model, device)
        except checkpointing.CheckpointError as error:
            return None, str(error)
        record = state.get("record")
        if not isinstance(record, dict) or "csv_rows" not in record:
            return None, f"checkpoint {path} has no run record (written by an older version)"
        self._check_same_run(record, int(state["step"]), total_steps)
        if record["csv_rows"] != int(state["step"]):
            return None, f"checkpoint {path} is at step {state['step']} but records {record['csv_rows']} CSV rows"
        return state, None

    def _check_same_run(self, record: dict, step: int, total_steps: int) -> None:
        # The rank count is not compared: every count trains the same global batches (training/data.py).
        changes = identity_changes(record["identity"], self.cfg.to_dict())
        data_sha = self.metadata["dataset"]["sha256"]
        if record.get("data_sha256") != data_sha:
            changes.append(f"dataset content sha256 {str(record.get('data_sha256'))[:12]} -> {data_sha[:12]}")
        if changes:
            raise RunMismatch(mismatch_message(changes, where="its checkpoint and CSV"))
        if step >= total_steps:
            raise RunMismatch(f"checkpoint {self.paths.checkpoint} is at step {step}, but this run has only "
                              f"{total_steps} steps; pass --rerun all to train it again, or give the new budget "
                              "a new label")

    def _start_over(self, state: Optional[dict], problem: Optional[str], total_steps: int) -> None:
        """Main process: say why, set the bad checkpoint aside, and write a fresh config JSON and CSV."""
        name = f"{self.cfg.folder_name}/{self.cfg.label}"
        start = f"training starts from step 0 of {total_steps}"
        if problem is not None and self.paths.checkpoint.exists():
            moved = checkpointing.move_aside(self.paths.checkpoint)
            log.warning("%s: %s; moved it to %s (kept for inspection); %s", name, problem, moved.name, start)
        elif state is not None and self.metrics.old_header() is not None:
            added = sorted(set(CSV_COLUMNS) - set(self.metrics.old_header().split(",")))
            log.warning("%s: %s was written with other CSV columns (this version adds %s), so its rows cannot be "
                        "continued; the checkpoint at step %d is removed and %s", name, self.paths.csv.name,
                        ", ".join(added) or "none, but orders them differently", state["step"], start)
            self.paths.checkpoint.unlink(missing_ok=True)
        elif state is not None:
            record = state["record"]
            log.warning("%s: the checkpoint at step %d belongs to %d CSV rows, but %s holds %d intact rows that do "
                        "not all match it (torn, lost or rewritten); %s (the checkpoint is removed)", name,
                        state["step"], record["csv_rows"], self.paths.csv.name, self.metrics.intact_rows(), start)
            self.paths.checkpoint.unlink(missing_ok=True)
        elif self.paths.csv.exists():
            log.warning("%s: no checkpoint; the %d rows in %s are dropped and %s", name,
                        self.metrics.intact_rows(), self.paths.csv.name, start)
        else:
            log.info("%s: %s", name, start)
        self._remove_stale_temp_files()
        atomic_write_json(self.paths.config_json, self.metadata)
        self.metrics.start_fresh()

    def _log_resumed(self, step: int, total_steps: int) -> None:
        if self.dist.is_main:
            cfg = self.cfg
            tokens = tokens_processed(step, cfg.batch_size, cfg.gradient_accumulation_steps, cfg.world_size,
                                      cfg.seq_length)
            log.info("%s/%s: resumed from step %d (%d tokens) of %d", cfg.folder_name, cfg.label, step, tokens,
                     total_steps)

    def _remove_stale_temp_files(self) -> None:
        """Temp files of atomic writes that a killed attempt left (the claim says no writer is alive)."""
        for target in (self.paths.csv, self.paths.checkpoint, self.paths.config_json, self.paths.done_marker):
            for leftover in Path(target.parent).glob(f".{target.name}.*.tmp"):
                leftover.unlink(missing_ok=True)

    def note_micro_batch(self, cfg: ExperimentConfig, memory: dict[str, Any]) -> None:
        """Record in config_<label>.json the micro-batch the run now uses and its memory facts (main process):
        after a resume on a device that sized it differently, and after each out-of-memory fallback."""
        self.cfg = cfg
        self.metadata = {**self.metadata, "config": cfg.to_dict(), "memory": memory}
        if self.dist.is_main:
            atomic_write_json(self.paths.config_json, self.metadata)

    # ------------------------------------------------------------------ steps
    def append(self, row: dict[str, Any]) -> None:
        """This step's CSV row (main process)."""
        if self.metrics is not None:
            self.metrics.append(row)

    def checkpoint_due(self) -> bool:
        """Whether the checkpoint interval has passed since the last save."""
        return time.monotonic() - self.last_save >= self.interval_s

    def checkpoint(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int, elapsed_s: float,
                   force: bool = False) -> None:
        """Write a checkpoint at ``step`` if ``force`` or the interval has passed: CSV rows durable first."""
        if not (force or self.checkpoint_due()):
            return
        if self.metrics is not None:
            rows, digest = self.metrics.sync()
            if rows != step:  # a checkpoint must describe exactly the rows before it
                raise RuntimeError(f"checkpoint at step {step} with {rows} CSV rows: the loop must write every "
                                   "step's row before checkpointing it")
            checkpointing.save(self.paths.checkpoint, model, optimizer, step, elapsed_s, {
                "csv_rows": rows, "csv_sha256": digest, "identity": identity_fields(self.cfg.to_dict()),
                "world_size": self.dist.world_size, "data_sha256": self.metadata["dataset"]["sha256"]})
        self.last_save = time.monotonic()

    # ------------------------------------------------------------------ finish
    def finish(self, status: str, last: dict[str, Any]) -> dict[str, Any]:
        """Close the CSV; on a finished run write the .done marker last and drop the checkpoint. Returns the summary."""
        summary = {"status": status, "optimizer_steps": last.get("optimizer_step", 0),
                   "tokens_processed": last.get("tokens_processed", 0),
                   "final_loss": float(last["loss"]) if last else None,
                   "final_val_loss": float(last["val_loss"]) if last.get("val_loss") else None,
                   "elapsed_s": float(last["elapsed_s"]) if last else 0.0}
        if self.metrics is None:
            return summary
        rows, digest = self.metrics.sync()
        self.metrics.close()
        if status in (Outcome.COMPLETE, Outcome.DIVERGED):
            summary.update(csv_rows=rows, csv_sha256=digest, identity=self.metadata["identity"])
            mark_done(self.paths, summary)
            self.paths.checkpoint.unlink(missing_ok=True)
        return summary
