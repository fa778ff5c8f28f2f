"""The results layout: the one place that knows where a run's files live and what they hold.

    results/<folder_name>/<label>.csv           metrics, one row per optimizer step (CSV_COLUMNS)
    results/<folder_name>/config_<label>.json   resolved config + dataset fingerprint + param counts
    results/<folder_name>/<label>.done          completion marker, written last (JSON summary)
    results/<folder_name>/<label>.log           the run's stdout/stderr
    results/<folder_name>/<label>.ckpt.pt       latest checkpoint (removed once complete)
    results/<folder_name>/<label>.failed        the last attempt raised: error and traceback (JSON)
    results/<folder_name>/<label>.heartbeat     touched every few seconds while an attempt runs

A run is complete only when its ``.done`` marker exists; nothing else implies completion.
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

# The CSV header, in order. Empty cells mean "not measured at this step" (e.g. val_loss).
CSV_COLUMNS = (
    "optimizer_step",  # optimizer steps completed (1-based)
    "tokens_processed",  # steps x batch_size x grad_accum x world_size x seq_length
    "loss",  # mean training loss over this step's micro-batches
    "val_loss",  # validation loss, on eval steps only
    "learning_rate",  # learning rate used for this step
    "grad_norm",  # global gradient norm before clipping
    "theoretical_flops_chinchilla",  # 6 x total_params x tokens_processed
    "tokens_per_second",  # training throughput (all ranks), averaged over the steps logged together
    "mfu",  # model FLOPs utilisation: tokens/s x flops_per_token / device bf16 peak; empty on CPU
    "elapsed_s",  # wall-clock seconds of training so far (summed across resumes)
)

RESULTS_ENV = "SCALING_RESULTS_DIR"
REPO_ROOT = Path(__file__).resolve().parents[1]  # the checkout: entry points, results/


def results_root() -> Path:
    """Root of all results: $SCALING_RESULTS_DIR, else results/ in the checkout."""
    return Path(os.environ.get(RESULTS_ENV, REPO_ROOT / "results"))


@dataclass(frozen=True)
class RunPaths:
    """Every file of one run."""

    folder: Path
    label: str

    @property
    def csv(self) -> Path:
        return self.folder / f"{self.label}.csv"

    @property
    def config_json(self) -> Path:
        return self.folder / f"config_{self.label}.json"

    @property
    def done_marker(self) -> Path:
        return self.folder / f"{self.label}.done"

    @property
    def log(self) -> Path:
        return self.folder / f"{self.label}.log"

    @property
    def checkpoint(self) -> Path:
        return self.folder / f"{self.label}.ckpt.pt"

    @property
    def failed_marker(self) -> Path:
        return self.folder / f"{self.label}.failed"

    @property
    def heartbeat(self) -> Path:
        return self.folder / f"{self.label}.heartbeat"


def run_paths(cfg: Any, root: Optional[Path] = None) -> RunPaths:
    """The files of the run of ``cfg`` (anything with ``folder_name`` and ``label``)."""
    return run_paths_for(cfg.folder_name, cfg.label, root)


def run_paths_for(folder_name: str, label: str, root: Optional[Path] = None) -> RunPaths:
    """The files of run ``label`` in study folder ``folder_name``."""
    return RunPaths(Path(root or results_root()) / folder_name, label)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_bytes(path, (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def format_row(row: dict[str, Any]) -> str:
    """One CSV line in CSV_COLUMNS order; None becomes an empty cell."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        ["" if row.get(col) is None else row[col] for col in CSV_COLUMNS])
    return buffer.getvalue()


class MetricsCsv:
    """Append-only metrics CSV, flushed after every row.

    ``start(keep_through_step)`` atomically rewrites the file to the header plus the rows
    up to that step (0 for a fresh run), so a resumed run never duplicates or drops rows.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._handle = None

    def start(self, keep_through_step: int = 0) -> None:
        kept = [row for row in read_metrics_rows(self.path) if int(row["optimizer_step"]) <= keep_through_step]
        text = ",".join(CSV_COLUMNS) + "\n" + "".join(format_row(row) for row in kept)
        atomic_write_bytes(self.path, text.encode())
        self._handle = open(self.path, "a", buffering=1)

    def append(self, row: dict[str, Any]) -> None:
        """Write one row; it must hold exactly CSV_COLUMNS (a missing or extra column is a bug)."""
        if set(row) != set(CSV_COLUMNS):
            missing, extra = sorted(set(CSV_COLUMNS) - set(row)), sorted(set(row) - set(CSV_COLUMNS))
            raise ValueError(f"metrics row does not match CSV_COLUMNS: missing {missing}, extra {extra}")
        self._handle.write(format_row(row))
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None


def read_metrics_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a metrics CSV as dicts (empty list if the file is missing).

    A last line cut short by a crash (fewer cells than the header) is dropped.
    """
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row for row in rows if None not in row.values() and row.get("elapsed_s", "") != ""]


def mark_done(paths: RunPaths, summary: dict[str, Any]) -> None:
    """Write the completion marker; call last, after the CSV and config are final."""
    atomic_write_json(paths.done_marker, summary)


def done_summary(paths: RunPaths) -> Optional[dict[str, Any]]:
    """The completion marker's summary, or None if the run is not finished."""
    return read_json(paths.done_marker) if paths.done_marker.exists() else None


def is_complete(paths: RunPaths) -> bool:
    return paths.done_marker.exists()


def clear_run(paths: RunPaths) -> None:
    """Remove a run's outputs (for --rerun)."""
    for path in (paths.csv, paths.config_json, paths.done_marker, paths.checkpoint, paths.failed_marker):
        path.unlink(missing_ok=True)
