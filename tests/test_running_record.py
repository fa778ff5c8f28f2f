"""running/record.py: a run's CSV, checkpoint and .done marker stay consistent through crashes at any point.

The crash test kills training (an exception no handler catches, as a SIGKILL would) at random
write events: while a row is half written, before an fsync, before or after a rename (the
checkpoint's among them). Then it emulates a power loss: the CSV loses a random part of what
was written after its last fsync. Each crashed run is resumed, crashing again up to twice
more, then run to the end; its CSV must equal an uninterrupted run's on every non-timing column.
"""
from __future__ import annotations

import csv
import logging
import os
import random
from pathlib import Path

import pytest
from conftest import rows_without_timing
from core import train

from experiment_utils import gen_experim
from scaling_laws.results_layout import CSV_COLUMNS, MetricsCsv, format_row, read_json, read_metrics_rows, run_paths
from scaling_laws.validate import validate_experiment

STEPS = 12
CRASH_CASES = 24


class Crash(BaseException):
    """The process dies here: nothing after this point runs (no handler catches a BaseException subclass)."""


@pytest.fixture
def corpus(tmp_path) -> str:
    """A small text corpus: loads in milliseconds, unlike the standard-library scan."""
    path = tmp_path / "corpus.txt"
    path.write_text("".join(f"def f{i}(x):\n    return x * {i} + {i % 7}\n" for i in range(4000)))
    return str(path)


def config(tiny_fields, corpus: str, label: str):
    # eval (and so log and checkpoint) every 2 steps: many checkpoints, many write events
    fields = {**tiny_fields, "max_tokens_training": 8 * 32 * STEPS, "eval_interval": 2, "dataset": corpus}
    return validate_experiment(gen_experim(fields.pop("hidden_dim"), label=label, folder_name="crash", **fields)[0])


KINDS = ("row", "fsync", "before rename", "after rename")


class CrashPlan:
    """Counts write events and raises Crash at the ``crash_at``-th event of ``kind`` (None: of any kind);
    remembers how much of the CSV was fsynced."""

    def __init__(self, kind, crash_at: int, rng: random.Random, csv: Path):
        self.kind, self.crash_at, self.rng, self.csv = kind, crash_at, rng, csv
        self.events = {None: 0, **{name: 0 for name in KINDS}}
        self.durable_csv_bytes = csv.stat().st_size if csv.exists() else 0

    def hit(self, kind: str) -> bool:
        self.events[kind] += 1
        self.events[None] += 1
        return self.events[self.kind] == self.crash_at and (self.kind is None or self.kind == kind)

    def install(self, monkeypatch) -> None:
        real_append, real_replace = MetricsCsv.append, os.replace
        plan = self

        def append(metrics, row):
            if plan.hit("row"):  # a torn row: part of the line reaches the file, then the process dies
                line = format_row(row).encode()
                metrics._handle.write(line[:plan.rng.randrange(1, len(line))])
                metrics._handle.flush()
                raise Crash("mid-row")
            real_append(metrics, row)

        def fsync(fd):
            if plan.hit("fsync"):
                raise Crash("before fsync")
            if os.path.realpath(f"/proc/self/fd/{fd}") == str(plan.csv.resolve()):
                plan.durable_csv_bytes = os.fstat(fd).st_size  # the real fsync is skipped: the test models it

        def replace(source, target):
            if plan.hit("before rename"):
                raise Crash(f"before renaming {Path(target).name}")
            real_replace(source, target)
            if str(target).endswith(".csv"):
                plan.durable_csv_bytes = Path(target).stat().st_size  # atomic_write_bytes fsynced it before
            if plan.hit("after rename"):
                raise Crash(f"after renaming {Path(target).name}")

        monkeypatch.setattr(MetricsCsv, "append", append)
        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)

    def lose_unsynced_bytes(self) -> None:
        """Power loss: the CSV keeps its fsynced bytes and a random part of the rest."""
        if self.csv.exists():
            size = self.csv.stat().st_size
            keep = self.rng.randint(min(self.durable_csv_bytes, size), size)
            os.truncate(self.csv, keep)


@pytest.fixture
def reference(tiny_fields, corpus):
    cfg = config(tiny_fields, corpus, "reference")
    train(cfg, run_paths(cfg))
    return rows_without_timing(run_paths(cfg).csv)


def test_crashes_at_random_write_events_never_leave_holes_or_mixed_rows(tiny_fields, corpus, reference,
                                                                          monkeypatch):
    monkeypatch.setenv("SCALING_CHECKPOINT_INTERVAL_S", "0")  # a checkpoint after every step: most events
    rng = random.Random(14)
    crash_points = []
    for case in range(CRASH_CASES):
        cfg = config(tiny_fields, corpus, f"case{case}")
        paths = run_paths(cfg)
        crashes, summary = [], None
        while summary is None and len(crashes) < rng.randint(1, 3):
            kind = rng.choice((None,) + KINDS)  # any event, or the n-th of one kind (each kind gets its turns)
            early = rng.random() < 0.3  # the first events: config JSON, the CSV started or cut back on resume
            crash_at = rng.randint(1, STEPS // 2) if kind else rng.randint(1, 4 if early else 3 * STEPS)
            plan = CrashPlan(kind, crash_at, rng, paths.csv)
            with monkeypatch.context() as patch:
                plan.install(patch)
                try:
                    summary = train(cfg, paths)
                except Crash as crash:
                    crashes.append(str(crash))
                    plan.lose_unsynced_bytes()
        summary = summary or train(cfg, paths)

        assert summary["status"] == "complete", case
        assert rows_without_timing(paths.csv) == reference, f"case {case}: crashes {crashes}"
        assert read_json(paths.done_marker)["csv_rows"] == STEPS
        crash_points += crashes
    assert len(crash_points) >= 20
    kinds = {point if "renaming" not in point else point.split(" renaming")[0] + " renaming " +
             point.rsplit(".", 1)[-1] for point in crash_points}
    assert {"mid-row", "before fsync", "before renaming pt", "after renaming pt", "before renaming csv",
            "before renaming json"} <= kinds


def checkpointed_run(tiny_fields, corpus, label: str, monkeypatch, stop_after: int = 8):
    """A run stopped (with a checkpoint) after ``stop_after`` steps."""
    cfg = config(tiny_fields, corpus, label)
    polls = iter(range(1, 100))
    summary = train(cfg, run_paths(cfg), stop_requested=lambda: next(polls) >= stop_after)
    assert summary["status"] == "interrupted" and summary["optimizer_steps"] == stop_after
    return cfg, run_paths(cfg)


@pytest.fixture(autouse=True)
def info_logs(caplog):
    caplog.set_level(logging.INFO, logger="scaling")


def log_text(caplog) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


def test_csv_shorter_than_its_checkpoint_restarts_from_zero_and_says_so(tiny_fields, corpus, reference,
                                                                         monkeypatch, caplog):
    cfg, paths = checkpointed_run(tiny_fields, corpus, "cut", monkeypatch)
    lines = paths.csv.read_text().splitlines(keepends=True)
    paths.csv.write_text("".join(lines[:4]))  # header + 3 of the checkpoint's 8 rows

    summary = train(cfg, paths)

    assert summary["status"] == "complete" and rows_without_timing(paths.csv) == reference
    assert "the checkpoint at step 8 belongs to 8 CSV rows, but cut.csv holds 3 intact rows" in log_text(caplog)
    assert f"training starts from step 0 of {STEPS}" in log_text(caplog)


def test_a_csv_with_an_older_header_restarts_from_zero_and_names_the_new_column(tiny_fields, corpus, reference,
                                                                                monkeypatch, caplog):
    cfg, paths = checkpointed_run(tiny_fields, corpus, "oldcsv", monkeypatch)
    rows = list(csv.DictReader(paths.csv.open()))
    old_columns = [c for c in CSV_COLUMNS if c != "flops_with_attention"]  # the header before that column
    paths.csv.write_text(",".join(old_columns) + "\n" + "".join(",".join(r[c] for c in old_columns) + "\n"
                                                                for r in rows))
    summary = train(cfg, paths)

    assert summary["status"] == "complete" and rows_without_timing(paths.csv) == reference
    assert ("oldcsv.csv was written with other CSV columns (this version adds flops_with_attention), so its rows "
            "cannot be continued; the checkpoint at step 8 is removed") in log_text(caplog)
    assert f"training starts from step 0 of {STEPS}" in log_text(caplog)


def test_a_torn_row_inside_the_checkpoint_is_detected(tiny_fields, corpus, reference, monkeypatch, caplog):
    cfg, paths = checkpointed_run(tiny_fields, corpus, "torn", monkeypatch)
    text = paths.csv.read_text()
    paths.csv.write_text(text[:-5])  # the last of the 8 rows loses its end

    summary = train(cfg, paths)

    assert summary["status"] == "complete" and rows_without_timing(paths.csv) == reference
    assert "holds 7 intact rows" in log_text(caplog)


def test_rows_after_the_checkpoint_are_dropped_and_the_run_resumes(tiny_fields, corpus, reference, monkeypatch,
                                                                    caplog):
    cfg, paths = checkpointed_run(tiny_fields, corpus, "extra", monkeypatch)
    with open(paths.csv, "a") as handle:
        handle.write("9,1,1,,1,1,1,1,1\n10,1,1")  # a row written after the checkpoint, and a torn one

    summary = train(cfg, paths)

    assert summary["status"] == "complete" and rows_without_timing(paths.csv) == reference
    assert f"resumed from step 8 ({8 * 8 * 32} tokens) of {STEPS}" in log_text(caplog)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_checkpoint_that_does_not_load_is_moved_aside_and_the_run_restarts(tiny_fields, corpus, reference,
                                                                             monkeypatch, caplog, damage):
    cfg, paths = checkpointed_run(tiny_fields, corpus, f"bad_{damage}", monkeypatch)
    data = paths.checkpoint.read_bytes()
    paths.checkpoint.write_bytes({"truncated": data[:len(data) // 2], "garbage": os.urandom(4096),
                                  "empty": b""}[damage])

    summary = train(cfg, paths)

    assert summary["status"] == "complete" and rows_without_timing(paths.csv) == reference
    kept = list(paths.folder.glob(f"{paths.label}.ckpt.bad-*.pt"))
    assert len(kept) == 1 and not paths.checkpoint.exists()
    text = log_text(caplog)
    assert f"checkpoint {paths.checkpoint} does not load" in text and kept[0].name in text
    assert "weights_only" not in text and "training starts from step 0" in text


def test_the_done_marker_records_the_whole_csv(tiny_fields, corpus):
    cfg = config(tiny_fields, corpus, "marker")
    summary = train(cfg, run_paths(cfg))
    marker = read_json(run_paths(cfg).done_marker)
    metrics = MetricsCsv(run_paths(cfg).csv)
    assert marker == summary and marker["csv_rows"] == len(read_metrics_rows(run_paths(cfg).csv)) == STEPS
    assert metrics.resume(marker["csv_rows"], marker["csv_sha256"])  # the digest is of the file as it is
    metrics.close()
    assert marker["identity"] == read_json(run_paths(cfg).config_json)["identity"]
