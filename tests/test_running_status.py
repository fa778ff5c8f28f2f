"""run_status.py and the --status table: a run's status from its files alone."""
from __future__ import annotations

import json
import os
import time

import pytest

from experiment_utils import gen_experim
from scaling_laws.validate import validate_experiment
from scaling_laws.results_layout import CSV_COLUMNS, atomic_write_json, format_row, run_paths_for
from scaling_laws.running.status import STALE_AFTER_S, run_state
from scaling_laws.status import RunStatus
from scaling_laws.studies.tables import format_status_table

NOW = 2_000_000_000.0


def write_csv(paths, steps: int) -> None:
    paths.folder.mkdir(parents=True, exist_ok=True)
    rows = [dict(optimizer_step=s, tokens_processed=256 * s, loss=f"{5 - s / 10:.6f}",
                 val_loss="4.5" if s % 2 == 0 else None, learning_rate="1e-3", grad_norm="1.0",
                 theoretical_flops_chinchilla="1e6", tokens_per_second="100.0", elapsed_s=f"{s:.3f}")
            for s in range(1, steps + 1)]
    paths.csv.write_text(",".join(CSV_COLUMNS) + "\n" + "".join(map(format_row, rows)))


def touch(path, age_s: float, text: str = "{}") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (NOW - age_s, NOW - age_s))


@pytest.fixture
def paths():
    return run_paths_for("STUDY", "d16")


def test_no_files_is_not_started(paths):
    assert run_state(paths, NOW).status == RunStatus.NOT_STARTED


def test_csv_without_live_heartbeat_is_incomplete_with_progress(paths):
    write_csv(paths, 3)
    state = run_state(paths, NOW)
    assert (state.status, state.last_step, state.tokens_processed, state.loss, state.val_loss) == \
        (RunStatus.INCOMPLETE, 3, 768, 4.7, 4.5)


def test_fresh_heartbeat_is_running_and_stale_one_is_incomplete(paths):
    write_csv(paths, 2)
    touch(paths.heartbeat, age_s=5)
    assert run_state(paths, NOW).status == RunStatus.RUNNING
    touch(paths.heartbeat, age_s=STALE_AFTER_S + 1)  # killed without cleanup (SIGKILL, node lost)
    assert run_state(paths, NOW).status == RunStatus.INCOMPLETE


def test_failed_marker_is_failed_with_its_error(paths):
    write_csv(paths, 1)
    touch(paths.failed_marker, age_s=30, text=json.dumps({"error": "DataError: too short"}))
    state = run_state(paths, NOW)
    assert (state.status, state.error) == (RunStatus.FAILED, "DataError: too short")
    assert state.age_s == pytest.approx(30)  # the newest file of the run is the marker


@pytest.mark.parametrize("status", [RunStatus.COMPLETE, RunStatus.DIVERGED])
def test_done_marker_decides_even_with_a_stale_failed_marker(paths, status):
    write_csv(paths, 4)
    touch(paths.failed_marker, age_s=60, text=json.dumps({"error": "old"}))
    atomic_write_json(paths.done_marker, {"status": status})
    assert run_state(paths, NOW).status == status


def test_status_table_counts_statuses_and_lists_errors():
    exps = [gen_experim(d, folder_name="T", max_tokens_training=256 * 4)[0] for d in (8, 16, 24)]
    write_csv(run_paths_for("T", "d8"), 4)
    atomic_write_json(run_paths_for("T", "d8").done_marker, {"status": RunStatus.COMPLETE})
    atomic_write_json(run_paths_for("T", "d16").failed_marker, {"error": "DataError: too short"})

    table = format_status_table([validate_experiment(exp) for exp in exps], now=time.time())

    lines = table.splitlines()
    assert lines[1].split()[:6] == ["0", "d8", "complete", "4", "100%", "4.6000"]
    assert lines[2].split()[:3] == ["1", "d16", "failed"]
    assert lines[3].split()[:4] == ["2", "d24", "not", "started"]
    assert "1 complete, 1 failed, 1 not started" in table
    assert "d16: DataError: too short" in table
