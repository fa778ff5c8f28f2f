"""The experiments.py command line, run as a user runs it (subprocess) where that is cheap."""
import os
import subprocess
import sys

from conftest import ROOT
from scaling_laws.results_layout import read_metrics_rows, run_paths_for


def cli(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, str(ROOT / "experiments.py"), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


def test_list_studies_and_one_study():
    result = cli("--list")
    assert result.returncode == 0
    for name in ("DEMO", "TRANSFORMER_SCALING", "TRANSFORMER_LR_SWEEP", "ACTIVATION_EXPERIMENTS", "SMOKE"):
        assert name in result.stdout
    table = cli("DEMO", "--list")
    assert table.returncode == 0
    lines = table.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["index", "label", "params"]
    assert len(lines) == 1 + 14 and all("not started" in line for line in lines[1:])
    assert lines[1].split()[1] == "d16" and "32 x 1" in lines[1]


def test_errors_are_clear_and_exit_non_zero():
    unknown = cli("NOPE", "--list")
    assert unknown.returncode == 2 and "unknown study 'NOPE'; known studies: " in unknown.stderr
    assert "DEMO" in unknown.stderr
    out_of_range = cli("SMOKE", "--index", "99")
    assert out_of_range.returncode == 2 and "index 99 is out of range" in out_of_range.stderr
    assert "valid 0..5" in out_of_range.stderr
    no_index = cli("SMOKE")
    assert no_index.returncode == 2 and "SLURM_ARRAY_TASK_ID" in no_index.stderr
    bad_key = cli("SMOKE", "--list", "learning_rat=1")
    assert bad_key.returncode == 2 and "Did you mean 'learning_rate'" in bad_key.stderr
    bad_value = cli("SMOKE", "--list", "activation=tanh")
    assert bad_value.returncode == 2 and "activation='tanh' is not allowed; choose one of gelu, relu, swiglu" \
        in bad_value.stderr


def test_overrides_apply_to_every_experiment():
    result = cli("DEMO", "--list", "max_tokens_training=200000")
    assert result.returncode == 0
    assert all(" 200k " in line for line in result.stdout.strip().splitlines()[1:])


def test_index_from_slurm_then_all_skips_complete_and_rerun_forces(results_dir):
    fast = ["max_tokens_training=2560"]
    first = cli("SMOKE", *fast, env_extra={"SLURM_ARRAY_TASK_ID": "1"})
    assert first.returncode == 0, first.stderr
    done = run_paths_for("SMOKE", "d12")
    assert done.done_marker.exists() and len(read_metrics_rows(done.csv)) == 10
    marker_time = done.done_marker.stat().st_mtime_ns
    everything = cli("SMOKE", "--all", *fast)
    assert everything.returncode == 0, everything.stderr
    assert "skip SMOKE/d12: already complete" in everything.stdout
    assert done.done_marker.stat().st_mtime_ns == marker_time
    assert all(run_paths_for("SMOKE", f"d{d}").done_marker.exists() for d in (8, 12, 16, 20, 24, 32))
    listing = cli("SMOKE", "--list", *fast)
    assert listing.stdout.count("complete") == 6
    again = cli("SMOKE", "--index", "1", "--rerun", *fast)
    assert again.returncode == 0 and done.done_marker.stat().st_mtime_ns != marker_time


def test_no_arguments_runs_the_default_experiment_and_says_which_where_and_how_to_pick_another(results_dir):
    first = cli()
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("No study given: running the default experiment QUICKSTART/d16 here")
    assert "python experiments.py --list" in first.stdout and "python experiments.py STUDY --index I" in first.stdout
    paths = run_paths_for("QUICKSTART", "d16")
    assert f"metrics {paths.csv}, config {paths.config_json}, log {paths.log}" in first.stdout
    tokens = [int(row["tokens_processed"]) for row in read_metrics_rows(paths.csv)]
    assert paths.done_marker.exists() and tokens[-1] >= 228480 > tokens[-2]  # stopped at the first step reaching it
    again = cli()
    assert again.returncode == 0 and "skip QUICKSTART/d16: already complete" in again.stdout

    under_array = cli(env_extra={"SLURM_ARRAY_TASK_ID": "3"})  # an old array script calling experiments.py bare
    assert under_array.returncode == 2 and "under a Slurm array, name a study" in under_array.stderr
    tasks_here = cli("SMOKE", "--all", "-3")
    assert tasks_here.returncode == 2 and "-3 (--tasks) shares a submission among array tasks" in tasks_here.stderr
