"""runner.py: resume equals uninterrupted, signals stop at a step boundary, every stop is recorded,
changed configs are refused, and only one attempt holds a run."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from conftest import rows_without_timing
from core import train

from experiment_utils import gen_experim
from scaling_laws.results_layout import atomic_write_json, read_json, read_metrics_rows, run_paths_for
from scaling_laws.running.claim import ExclusiveLock
from scaling_laws.running.liveness import this_process
from scaling_laws.running.preemption import StopSignals
from scaling_laws.running.runner import BUSY_EXIT_CODE, attempt, run_one, run_share
from scaling_laws.running.status import run_state
from scaling_laws.status import Outcome, RunStatus
from scaling_laws.submit import submitit_backend
from scaling_laws.validate import validate_experiment


def experiment(tiny_fields, folder: str, **changes) -> dict:
    fields = {**tiny_fields, **changes}
    return gen_experim(fields.pop("hidden_dim"), label="tiny", folder_name=folder, **fields)[0]


def attempt_at(exp: dict, **kwargs):
    return attempt(train, validate_experiment(exp), **kwargs)


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


def interrupted_run(tiny_fields, folder: str, steps: int = 200, **changes):
    """A run stopped by SIGUSR1 after at least 5 steps; returns (experiment, paths, steps done)."""
    exp = experiment(tiny_fields, folder, max_tokens_training=8 * 32 * steps, **changes)
    paths = run_paths_for(folder, "tiny")
    send_when_csv_has(paths.csv, 5, signal.SIGUSR1)
    result = attempt_at(exp)
    assert result.outcome == Outcome.INTERRUPTED
    return exp, paths, result.summary["optimizer_steps"]


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
    log = paths.log.read_text()
    assert log.count("===== attempt") == 2 and "training starts from step 0 of 200" in log
    step = outcome.summary["optimizer_steps"]
    assert f"resumed from step {step} ({step * 8 * 32} tokens) of 200" in log


def test_bad_data_is_refused_in_one_line_with_a_failed_marker_and_exit_2(tiny_fields, tmp_path, capsys):
    short = tmp_path / "short.txt"
    short.write_text("too short")  # exists, so valid at definition time; too few tokens at run time
    exp = experiment(tiny_fields, "broken", dataset=str(short))
    paths = run_paths_for("broken", "tiny")

    assert run_one(train, validate_experiment(exp)) == 2

    marker = read_json(paths.failed_marker)
    assert marker["error"].startswith("DataError: dataset") and "fewer than seq_length + 2" in marker["error"]
    assert marker["traceback"] == ""
    log = paths.log.read_text()
    assert "Traceback" not in log and "Traceback" not in capsys.readouterr().out
    assert "broken/tiny REFUSED: dataset" in log
    state = run_state(paths)
    assert state.status == RunStatus.FAILED and state.error == marker["error"]


def test_a_bug_in_training_writes_its_traceback_and_exits_1(tiny_fields):
    exp = experiment(tiny_fields, "buggy")
    paths = run_paths_for("buggy", "tiny")

    def broken_train(cfg, paths, stop_requested):
        raise RuntimeError("a bug")

    assert run_one(broken_train, validate_experiment(exp)) == 1

    marker = read_json(paths.failed_marker)
    assert marker["error"] == "RuntimeError: a bug" and "Traceback" in marker["traceback"]
    assert "Traceback (most recent call last)" in paths.log.read_text()
    assert attempt(broken_train, validate_experiment(exp)).outcome == Outcome.FAILED  # a new attempt replaces it
    assert paths.log.read_text().count("===== attempt") == 2


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
    assert run_share(train, share) == 2  # b refused (too little data: exit 2); a and c still ran
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


# ----------------------------------------------------------------------------- run identity
def test_a_complete_run_under_a_changed_config_is_refused_not_skipped(tiny_fields, capsys):
    exp = experiment(tiny_fields, "changed")
    paths = run_paths_for("changed", "tiny")
    assert attempt_at(exp).outcome == Outcome.COMPLETE
    marker_time = paths.done_marker.stat().st_mtime_ns
    changed = experiment(tiny_fields, "changed", learning_rate=1e-2)

    result = attempt_at(changed)

    assert result.outcome == Outcome.REFUSED and result.exit_code == 2
    assert "learning_rate 0.003 -> 0.01" in result.error and "new label" in result.error
    assert "--rerun all" in result.error
    assert paths.done_marker.stat().st_mtime_ns == marker_time  # the old results are untouched
    state = run_state(paths, cfg=validate_experiment(changed))
    assert state.status == RunStatus.CHANGED and state.error == "learning_rate 0.003 -> 0.01"
    assert run_state(paths, cfg=validate_experiment(exp)).status == RunStatus.COMPLETE
    assert attempt_at(exp).outcome == Outcome.SKIPPED
    assert attempt_at(changed, rerun=True).outcome == Outcome.COMPLETE
    assert read_json(paths.config_json)["config"]["learning_rate"] == 1e-2


def test_an_interrupted_run_is_not_resumed_under_another_config(tiny_fields):
    exp, paths, done = interrupted_run(tiny_fields, "resume_changed")
    rows = read_metrics_rows(paths.csv)

    result = attempt_at({**exp, "learning_rate": 1e-2})

    assert result.outcome == Outcome.REFUSED and "learning_rate 0.003 -> 0.01" in result.error
    assert read_metrics_rows(paths.csv) == rows and paths.checkpoint.exists()  # nothing mixed in
    assert "REFUSED" in paths.log.read_text() and read_json(paths.failed_marker)["traceback"] == ""


def test_a_budget_below_the_checkpoint_is_a_clear_refusal(tiny_fields):
    exp, paths, done = interrupted_run(tiny_fields, "budget")
    smaller = experiment(tiny_fields, "budget", max_tokens_training=8 * 32 * 3)

    result = attempt_at(smaller)

    assert result.outcome == Outcome.REFUSED and result.exit_code == 2
    assert f"max_tokens_training {8 * 32 * 200} -> {8 * 32 * 3}" in result.error
    assert run_state(paths).status == RunStatus.FAILED
    assert attempt_at(smaller, rerun=True).outcome == Outcome.COMPLETE
    assert len(read_metrics_rows(paths.csv)) == 3


# ----------------------------------------------------------------------------- one attempt per run
def test_attempt_refuses_a_run_whose_lock_another_attempt_holds(tiny_fields):
    exp = experiment(tiny_fields, "held")
    paths = run_paths_for("held", "tiny")
    other = ExclusiveLock(paths.lock)
    assert other.acquire()  # another open file description: flock conflicts as with another process
    try:
        result = attempt_at(exp)
    finally:
        other.release()
    assert result.exit_code == BUSY_EXIT_CODE and not paths.csv.exists()
    assert attempt_at(exp).outcome == Outcome.COMPLETE  # released: the next attempt trains


def test_fresh_heartbeat_of_another_host_blocks_but_ours_does_not(tiny_fields, monkeypatch):
    exp = experiment(tiny_fields, "beat")
    paths = run_paths_for("beat", "tiny")
    atomic_write_json(paths.heartbeat, {"host": "elsewhere", "pid": 1, "slurm_job": "7_1"})
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "9")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "0")

    assert attempt_at(exp).exit_code == BUSY_EXIT_CODE and not paths.csv.exists()
    atomic_write_json(paths.heartbeat, {"host": "elsewhere", "pid": 2, "slurm_job": "9_0"})  # our own killed attempt
    assert attempt_at(exp).outcome == Outcome.COMPLETE


@pytest.mark.parametrize("beat_changes", [{"pid": 2**22 + 12345}, {"pid_start": -1}],
                         ids=["pid gone", "pid reused by another process"])
def test_heartbeat_of_a_dead_process_on_this_host_is_dead_at_once(tiny_fields, beat_changes):
    exp = experiment(tiny_fields, "killed")
    paths = run_paths_for("killed", "tiny")
    atomic_write_json(paths.heartbeat, {**this_process(), **beat_changes, "slurm_job": "-"})  # fresh, not ours

    assert run_state(paths).status == RunStatus.NOT_STARTED  # not "running"
    assert attempt_at(exp).outcome == Outcome.COMPLETE
