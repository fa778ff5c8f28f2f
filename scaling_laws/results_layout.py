"""The results layout: the one place that knows where a run's files live and what they hold.

    results/<folder_name>/<label>.csv           metrics, one row per optimizer step (CSV_COLUMNS)
    results/<folder_name>/config_<label>.json   resolved config + dataset fingerprint + param counts
    results/<folder_name>/<label>.done          completion marker, written last (JSON summary)
    results/<folder_name>/<label>.log           the run's stdout/stderr
    results/<folder_name>/<label>.ckpt.pt       latest checkpoint (removed once complete)
    results/<folder_name>/<label>.failed        the last attempt raised: error and traceback (JSON)
    results/<folder_name>/<label>.heartbeat     touched every few seconds while an attempt runs
    results/<folder_name>/<label>.lock          locked (flock) by the one attempt that holds the run; never removed
    results/<folder_name>/.discarded/<time>/    results a submission with --rerun all set aside

A run is complete only when its ``.done`` marker exists; nothing else implies completion.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from scaling_laws.config import ConfigError

# The CSV header, in order. Empty cells mean "not measured at this step" (e.g. val_loss).
CSV_COLUMNS = (
    "optimizer_step",  # optimizer steps completed (1-based)
    "tokens_processed",  # steps x batch_size x grad_accum x world_size x seq_length
    "loss",  # mean training loss over this step's micro-batches
    "val_loss",  # validation loss, on eval steps only
    "learning_rate",  # learning rate used for this step
    "grad_norm",  # global gradient norm before clipping
    "theoretical_flops_chinchilla",  # 6 x total_params x tokens_processed
    "flops_with_attention",  # the architecture's FLOPs per token (6N + attention) x tokens_processed; counting.py
    "tokens_per_second",  # training throughput (all ranks), averaged over the steps logged together
    "mfu",  # model FLOPs utilisation: tokens/s x flops_per_token / device bf16 peak; empty on CPU
    "elapsed_s",  # wall-clock seconds of training so far (summed across resumes)
)

RESULTS_ENV = "SCALING_RESULTS_DIR"
REPO_ROOT = Path(__file__).resolve().parents[1]  # the checkout: entry points, results/


def results_root() -> Path:
    """Root of all results: $SCALING_RESULTS_DIR, else results/ in the checkout; ConfigError if it is a file."""
    root = Path(os.environ.get(RESULTS_ENV, REPO_ROOT / "results"))
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{RESULTS_ENV}={str(root)!r} is a file, not a folder; point it at a folder (it is "
                          "created if missing) or unset it to use results/ in the checkout")
    return root


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

    @property
    def lock(self) -> Path:
        return self.folder / f"{self.label}.lock"


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


CSV_HEADER = ",".join(CSV_COLUMNS) + "\n"


class MetricsCsv:
    """Append-only metrics CSV that knows how many rows it holds and the digest of their bytes.

    The run record (running/record.py) stores ``sync()``'s (rows, digest) in each checkpoint and
    in the .done marker, and ``resume`` keeps a CSV only if it holds exactly those rows, intact:
    a torn last row, or rows a crash never let reach the disk, cannot pass for a complete record.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.rows = 0
        self._digest = hashlib.sha256()
        self._handle = None

    def start_fresh(self) -> None:
        """Atomically replace the file by the header alone and open it for appending."""
        atomic_write_bytes(self.path, CSV_HEADER.encode())
        self._open(b"")

    def resume(self, rows: int, digest: str) -> bool:
        """Keep exactly the first ``rows`` rows if they are intact and hash to ``digest``; drop later rows.

        Returns False, changing nothing, when the file is missing, has another header, or holds fewer
        or different rows (then the run must start again: its checkpoint describes rows that are gone).
        """
        kept = self.intact_prefix(rows)
        if kept is None or hashlib.sha256(kept).hexdigest() != digest:
            return False
        if self.path.stat().st_size != len(CSV_HEADER) + len(kept):  # rows after the checkpoint, or a torn one
            atomic_write_bytes(self.path, CSV_HEADER.encode() + kept)
        self._open(kept)
        self.rows = rows
        return True

    def intact_prefix(self, rows: int) -> Optional[bytes]:
        """The bytes of the first ``rows`` complete rows (each ending in a newline), or None if there are fewer."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if not data.startswith(CSV_HEADER.encode()):
            return None
        complete = data[len(CSV_HEADER):].split(b"\n")[:-1]  # the last piece is empty or a torn row
        if len(complete) < rows:
            return None
        return b"".join(line + b"\n" for line in complete[:rows])

    def old_header(self) -> Optional[str]:
        """The file's header line when it is not CSV_HEADER (a CSV written by a version with other
        columns), else None (also when the file is missing)."""
        try:
            with open(self.path, "rb") as handle:
                first = handle.readline()
        except FileNotFoundError:
            return None
        return None if first == CSV_HEADER.encode() else first.decode(errors="replace").strip()

    def intact_rows(self) -> int:
        """How many complete rows the file holds (for messages)."""
        try:
            data = self.path.read_bytes()[len(CSV_HEADER):]
        except FileNotFoundError:
            return 0
        return data.count(b"\n")

    def _open(self, kept: bytes) -> None:
        self._digest = hashlib.sha256(kept)
        self.rows = 0
        self._handle = open(self.path, "ab")

    def append(self, row: dict[str, Any]) -> None:
        """Write one row and flush it; it must hold exactly CSV_COLUMNS (a missing or extra column is a bug)."""
        if set(row) != set(CSV_COLUMNS):
            missing, extra = sorted(set(CSV_COLUMNS) - set(row)), sorted(set(row) - set(CSV_COLUMNS))
            raise ValueError(f"metrics row does not match CSV_COLUMNS: missing {missing}, extra {extra}")
        line = format_row(row).encode()
        self._handle.write(line)
        self._handle.flush()
        self._digest.update(line)
        self.rows += 1

    def sync(self) -> tuple[int, str]:
        """Make every row written so far durable (fsync); returns (rows, digest) for a checkpoint or marker."""
        self._handle.flush()
        os.fsync(self._handle.fileno())
        return self.rows, self._digest.hexdigest()

    def close(self) -> None:
        if self._handle is not None:
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


RESULT_FILES = ("csv", "config_json", "done_marker", "checkpoint", "failed_marker")  # what --rerun all discards


def clear_run(paths: RunPaths) -> None:
    """Remove a run's outputs (for --rerun)."""
    for name in RESULT_FILES:
        getattr(paths, name).unlink(missing_ok=True)


def set_aside(paths: RunPaths, into: Path) -> list[tuple[Path, Path]]:
    """Move a run's outputs into folder ``into`` (a submission with --rerun all, before it submits);
    returns the moves, so that ``put_back`` can undo them if the submission fails."""
    moves = []
    for name in RESULT_FILES:
        source = getattr(paths, name)
        if source.exists():
            into.mkdir(parents=True, exist_ok=True)
            os.replace(source, into / source.name)
            moves.append((source, into / source.name))
    return moves


def put_back(moves: list[tuple[Path, Path]]) -> None:
    """Undo ``set_aside``, removing the folders it made once they are empty."""
    for source, moved in moves:
        os.replace(moved, source)
    for folder in {moved.parent for _, moved in moves}:
        for empty in (folder, folder.parent):
            try:
                empty.rmdir()
            except OSError:
                break
