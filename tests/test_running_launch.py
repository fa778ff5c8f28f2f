"""Launching the ranks of a data-parallel run: real gloo processes on the CPU, started as a user's run starts them."""
import subprocess
import sys
import time

import psutil
import pytest

from conftest import ROOT
from core import train
from lstm_model import gen_lstm_experim
from scaling_laws.config import ExperimentConfig
from scaling_laws.results_layout import read_json, read_metrics_rows, run_paths
from scaling_laws.running.launch import ranks_here, slurm_port, train_on_ranks
from scaling_laws.training.distributed import DistContext
from scaling_laws.validate import validate_experiment

TINY_LSTM = dict(seq_length=32, target_effective_batch_size=8, eval_interval=10, eval_sequences=16,
                 learning_rate=1e-2, warmup_fraction=0.1)


def lstm_config(label: str, steps: int, **changes) -> ExperimentConfig:
    fields = {**TINY_LSTM, "max_tokens_training": 8 * 32 * steps, **changes}
    return validate_experiment(gen_lstm_experim(16, label=label, folder_name="launch", **fields)[0])


def losses(cfg: ExperimentConfig) -> list[float]:
    return [float(row["loss"]) for row in read_metrics_rows(run_paths(cfg).csv)]


def test_two_ranks_train_what_one_rank_trains():
    two = lstm_config("two", 20)
    assert (two.world_size, two.batch_size * two.gradient_accumulation_steps) == (2, 4)
    summary = train_on_ranks(two, run_paths(two))
    one = lstm_config("one", 20)  # the same world_size=2 config on one process: it accumulates both ranks' share
    train(one, run_paths(one), DistContext())

    assert summary["status"] == "complete" and summary["optimizer_steps"] == 20
    assert losses(two) == pytest.approx(losses(one), rel=1e-5)
    assert losses(two)[-1] < losses(two)[0]
    rows_two, rows_one = read_metrics_rows(run_paths(two).csv), read_metrics_rows(run_paths(one).csv)
    assert [r["tokens_processed"] for r in rows_two] == [r["tokens_processed"] for r in rows_one]
    assert rows_two[-1]["tokens_processed"] == str(20 * 8 * 32)  # tokens count all ranks
    assert read_json(run_paths(two).config_json)["world_size"] == 2  # the ranks that trained it
    assert read_json(run_paths(one).config_json)["world_size"] == 1


def test_ranks_exit_cleanly_ten_times_in_a_row():
    for attempt in range(10):  # a gloo abort at exit (134) or a hang fails train_on_ranks
        cfg = lstm_config(f"clean{attempt}", 2, eval_interval=2)
        started = time.monotonic()
        assert train_on_ranks(cfg, run_paths(cfg))["status"] == "complete"
        assert time.monotonic() - started < 120


def test_resume_on_two_ranks_equals_an_uninterrupted_run():
    cfg = lstm_config("resumed", 150)
    stop_after_rows = lambda: run_paths(cfg).csv.exists() and len(read_metrics_rows(run_paths(cfg).csv)) >= 10
    first = train_on_ranks(cfg, run_paths(cfg), stop_requested=stop_after_rows)
    stopped_at = first["optimizer_steps"]
    assert first["status"] == "interrupted" and stopped_at % 10 == 0 and stopped_at < 150  # agreed at a log step
    assert run_paths(cfg).checkpoint.exists() and not run_paths(cfg).done_marker.exists()
    second = train_on_ranks(cfg, run_paths(cfg))
    straight = lstm_config("straight", 150, world_size=1)
    train(straight, run_paths(straight))

    assert second["status"] == "complete" and second["csv_rows"] == 150
    assert [row["optimizer_step"] for row in read_metrics_rows(run_paths(cfg).csv)] == [str(s) for s in range(1, 151)]
    assert losses(cfg) == pytest.approx(losses(straight), rel=1e-5)


DYING_STUDY = '''
from experiment_definitions import study
from lstm_model import gen_lstm_experim

@study("LONG_LSTM")
def long_lstm():
    return gen_lstm_experim(16, folder_name="dying", seq_length=32, target_effective_batch_size=8,
                            max_tokens_training=8 * 32 * 100000, eval_interval=10, eval_sequences=16)
'''


def rank_processes(parent: psutil.Process) -> dict[str, psutil.Process]:
    """The parent's children by their RANK variable."""
    found = {}
    for child in parent.children(recursive=True):
        try:
            found[child.environ().get("RANK")] = child
        except psutil.Error:
            pass
    return found


def test_a_dying_rank_fails_the_run_in_bounded_time_with_a_clear_line(tmp_path, results_dir):
    definitions = tmp_path / "dying.py"
    definitions.write_text(DYING_STUDY)
    run = subprocess.Popen([sys.executable, str(ROOT / "experiments.py"), "LONG_LSTM", "--index", "0",
                            "--definitions", str(definitions)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, cwd=ROOT)
    csv = results_dir / "dying" / "lstm16.csv"
    deadline = time.monotonic() + 120
    while not (csv.exists() and len(read_metrics_rows(csv)) >= 10):  # both ranks are training
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()[0]
        time.sleep(0.5)
    rank_processes(psutil.Process(run.pid))["1"].kill()
    killed = time.monotonic()
    output, _ = run.communicate(timeout=60)

    assert run.returncode == 1, output
    assert time.monotonic() - killed < 30  # no hang: rank 0 was stopped, not left waiting in an all-reduce
    assert "RankFailed: rank 1 exited with code -9" in output
    assert "RankFailed: rank 1" in read_json(results_dir / "dying" / "lstm16.failed")["error"]


def test_fewer_gpus_than_world_size_means_fewer_ranks_with_the_same_global_batch():
    cfg = lstm_config("plan", 4, world_size=4)  # 4 ranks x 1 micro-batch of 2
    assert [ranks_here(cfg, gpus) for gpus in (0, 1, 2, 3, 4, 8)] == [4, 1, 2, 2, 4, 4]
    assert [ranks_here(cfg, 0, tasks) for tasks in (0, 1, 2, 3, 8)] == [4, 1, 2, 2, 4]  # srun: the task's tasks
    assert slurm_port("1234") != slurm_port("1235")  # two array tasks on one node: two rendezvous ports


def test_a_run_stopped_on_two_ranks_resumes_on_one():
    cfg = lstm_config("moved", 150)  # a requeued task may land where only one GPU is visible
    stop_after_rows = lambda: run_paths(cfg).csv.exists() and len(read_metrics_rows(run_paths(cfg).csv)) >= 10
    assert train_on_ranks(cfg, run_paths(cfg), stop_requested=stop_after_rows)["status"] == "interrupted"
    assert train(cfg, run_paths(cfg), DistContext())["status"] == "complete"
    straight = lstm_config("straight", 150, world_size=1)
    train(straight, run_paths(straight))
    assert losses(cfg) == pytest.approx(losses(straight), rel=1e-5) and len(losses(cfg)) == 150
