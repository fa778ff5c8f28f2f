"""runner.py: resume equals uninterrupted, signals stop at a step boundary, failures are recorded."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from conftest import rows_without_timing
from core import train

from scaling_laws.submit import submitit_backend
from experiment_utils import gen_experim
from scaling_laws.validate import validate_experiment
from scaling_laws.running.preemption import StopSignals
from scaling_laws.results_layout import atomic_write_json, read_json, read_metrics_rows, run_paths_for
from scaling_laws.running.status import run_state
from scaling_laws.status import RunStatus
from scaling_laws.running.runner import BUSY_EXIT_CODE, attempt, run_one, run_share
from scaling_laws.status import Outcome

def experiment(tiny_fields, folder: str, **changes) -> dict:
    fields = {**tiny_fields, **changes}
    return gen_experim(fields.pop("hidden_dim"), label="tiny", folder_name=folder, **fields)[0]


def attempt_at(exp: dict):
    return attempt(train, validate_experiment(exp))


def send_when_csv_has(path, rows: int, signum: int, timeout_s: float = 60) -> threading.Thread:
    """Send ``signum`` to this process once the CSV at ``path`` has ``rows`` data rows."""
    def watch():
        deadline = time.monotonic() + timeout_s
        while len(read_metrics_rows(path)) < rows and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signum)
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_sigusr1_checkpoints_at_step_end_and_next_attempt_resumes(tiny_fields):
    long_run = dict(max_tokens_training=8 * 32 * 200)
    exp = experiment(tiny_fields, "stopped", **long_run)
    paths = run_paths_for("stopped", "tiny")
    send_when_csv_has(paths.csv, 5, signal.SIGUSR1)

    outcome = attempt_at(exp)

    assert outcome.outcome == Outcome.INTERRUPTED and outcome.signal == signal.SIGUSR1 and outcome.exit_code == 128 + 10
    assert paths.checkpoint.exists() and not paths.done_marker.exists() and not paths.heartbeat.exists()
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL  # handlers are restored
    assert attempt_at(exp).outcome == Outcome.COMPLETE
    attempt_at(experiment(tiny_fields, "straight", **long_run))
    assert rows_without_timing(paths.csv) == rows_without_timing(run_paths_for("straight", "tiny").csv)
    assert paths.log.read_text().count("===== attempt") == 2


def test_failing_run_writes_failed_marker_traceback_and_exits_1(tiny_fields, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("too short")  # exists, so valid at definition time; too few tokens at run time
    exp = experiment(tiny_fields, "broken", dataset=str(short))
    paths = run_paths_for("broken", "tiny")

    assert run_one(train, validate_experiment(exp)) == 1

    marker = read_json(paths.failed_marker)
    assert marker["error"].startswith("DataError:") and "Traceback" in marker["traceback"]
    log = paths.log.read_text()
    assert "Traceback (most recent call last)" in log and "DataError" in log and "FAILED" in log
    state = run_state(paths)
    assert state.status == RunStatus.FAILED and state.error == marker["error"]
    assert attempt_at(exp).outcome == Outcome.FAILED  # a new attempt replaces the marker, still failing
    assert log.count("===== attempt") == 1 and paths.log.read_text().count("===== attempt") == 2


def test_stop_signals_only_set_a_flag():
    with StopSignals((signal.SIGUSR1, signal.SIGTERM)) as stop:
        assert not stop()
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGUSR1)
        assert stop() and stop.received == signal.SIGTERM  # the first signal is kept
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_share_runs_in_order_past_a_failure_and_stops_at_a_signal(tiny_fields, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("too short for seq_length 32")  # valid at definition time, fails when training starts
    share = [validate_experiment(experiment(tiny_fields, folder, **changes)) for folder, changes in
             (("share_a", {}), ("share_b", {"dataset": str(short)}), ("share_c", {}))]
    assert run_share(train, share) == 1  # b failed; a and c still ran
    assert [run_state(run_paths_for(f"share_{x}", "tiny")).status for x in "abc"] == \
        [RunStatus.COMPLETE, RunStatus.FAILED, RunStatus.COMPLETE]

    long_share = [validate_experiment(experiment(tiny_fields, folder, **changes)) for folder, changes in
                  (("stop_a", {"max_tokens_training": 8 * 32 * 100}), ("stop_b", {}))]
    send_when_csv_has(run_paths_for("stop_a", "tiny").csv, 5, signal.SIGUSR1)
    assert run_share(train, long_share) == 128 + signal.SIGUSR1  # no Slurm here to requeue it
    assert run_paths_for("stop_a", "tiny").checkpoint.exists() and not run_paths_for("stop_b", "tiny").csv.exists()
    assert run_share(train, long_share) == 0  # again: a resumes, then b runs
    assert all(run_paths_for(folder, "tiny").done_marker.exists() for folder in ("stop_a", "stop_b"))
    assert run_paths_for("stop_a", "tiny").log.read_text().count("===== attempt") == 2


def test_submitit_task_checkpoints_then_hands_over_to_submitit(tiny_fields):
    exp = experiment(tiny_fields, "preempted", max_tokens_training=8 * 32 * 200)
    paths = run_paths_for("preempted", "tiny")
    handed_over = []

    def fake_submitit_handler(signum, frame):  # submitit's: checkpoint(), requeue, sys.exit(-1)
        handed_over.append((paths.checkpoint.exists(), len(read_metrics_rows(paths.csv))))
        raise SystemExit(-1)

    previous = signal.signal(signal.SIGUSR2, fake_submitit_handler)
    try:
        send_when_csv_has(paths.csv, 5, signal.SIGUSR2)
        task = submitit_backend.ShareTask(train)
        with pytest.raises(SystemExit):
            task([exp])
    finally:
        signal.signal(signal.SIGUSR2, previous)
    (checkpoint_existed, rows), = handed_over
    assert checkpoint_existed and rows >= 5
    delayed = task.checkpoint([exp])
    assert delayed.function is task and delayed.args == ([exp],)
    assert delayed.result()[0]["status"] == "complete"  # the resubmitted call resumes and finishes


def test_attempt_refuses_a_run_another_live_attempt_holds(tiny_fields, monkeypatch):
    exp = experiment(tiny_fields, "held")
    paths = run_paths_for("held", "tiny")
    atomic_write_json(paths.heartbeat, {"host": "elsewhere", "pid": 1, "slurm_job": "7_1"})
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "9")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "0")

    assert attempt_at(exp).exit_code == BUSY_EXIT_CODE and not paths.csv.exists()
    atomic_write_json(paths.heartbeat, {"host": "vm", "pid": 2, "slurm_job": "9_0"})  # our own killed attempt
    assert attempt_at(exp).outcome == Outcome.COMPLETE
