"""run_status.py and the --status table: a run's status from its files alone."""
from __future__ import annotations

import json
import os
import time

import pytest

from experiment_utils import gen_experim
from scaling_laws.validate import validate_experiment
from scaling_laws.results_layout import CSV_COLUMNS, atomic_write_json, format_row, run_paths_for
from scaling_laws.running.queue import queued_runs, task_comment
from scaling_laws.running.status import STALE_AFTER_S, run_state
from scaling_laws.submit.manifest import build_manifest, write_manifest
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
    assert "d16: failed: DataError: too short" in table


def squeue_line(job: str, task: int, state: str, reason: str, restarts: int, comment: str) -> str:
    """One line as running/queue.py asks squeue for it."""
    return f"{job}|{task}|{state}|{reason}|{restarts}|{comment}|"


def test_queue_makes_runs_queued_requeued_or_running_and_ignores_other_jobs():
    configs = [validate_experiment(gen_experim(d, folder_name="Q", max_tokens_training=256 * 4)[0]) for d in (8, 16, 24)]
    manifest = write_manifest(build_manifest("Q", configs[1:], [1, 2]))  # task i runs configs[1 + i]
    lines = [squeue_line("40", 0, "PENDING", "Priority", 0, task_comment(manifest, 0)),
             squeue_line("40", 1, "PENDING", "BeginTime", 1, task_comment(manifest, 0)),
             squeue_line("41", 0, "RUNNING", "None", 0, "someone else's job"),
             squeue_line("42", 3, "PENDING", "Priority", 0, task_comment(manifest.parent / "gone.json", 0))]
    queue = queued_runs(lines)

    states = [run_state(run_paths_for("Q", cfg.label), NOW, cfg=cfg, queue=queue) for cfg in configs]

    assert [state.status for state in states] == [RunStatus.NOT_STARTED, RunStatus.QUEUED, RunStatus.REQUEUED]
    assert states[2].queued == "job 40_1 pending (BeginTime)"
    running = queued_runs([squeue_line("40", 0, "RUNNING", "None", 0, task_comment(manifest, 1))])
    assert run_state(run_paths_for("Q", "d24"), NOW, queue=running).status == RunStatus.RUNNING  # no heartbeat yet


def test_unreadable_files_make_the_run_unreadable_naming_the_file(paths):
    write_csv(paths, 2)
    touch(paths.done_marker, age_s=1, text="{not json")
    state = run_state(paths, NOW)
    assert state.status == RunStatus.UNREADABLE and str(paths.done_marker) in state.error
    paths.done_marker.unlink()
    paths.csv.write_text(",".join(CSV_COLUMNS) + "\nabc,1,2,,1,1,1,1,1\n")
    state = run_state(paths, NOW)
    assert state.status == RunStatus.UNREADABLE and str(paths.csv) in state.error


def test_running_run_has_an_eta_and_the_study_eta_sums_what_is_left():
    cfg = validate_experiment(gen_experim(8, folder_name="E", max_tokens_training=256 * 8)[0])
    other = validate_experiment(gen_experim(16, folder_name="E", max_tokens_training=256 * 8)[0])
    paths = run_paths_for("E", "d8")
    write_csv(paths, 2)  # 512 of 2048 tokens in 2 s (elapsed_s of row 2)
    touch(paths.heartbeat, age_s=5)

    state = run_state(paths, NOW, cfg=cfg)

    assert state.status == RunStatus.RUNNING and state.eta_s == pytest.approx(6.0)
    assert state.heartbeat_age_s == pytest.approx(5)
    table = format_status_table([cfg, other], now=NOW)
    lines = table.splitlines()
    assert lines[1].split()[7:9] == ["6s", "5s"]  # ETA, heartbeat age
    assert "study ETA: " in table and "the rate of the 1 run(s) running now" in table
