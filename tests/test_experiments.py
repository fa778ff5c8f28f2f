"""The experiments.py command line, run as a user runs it (subprocess) where that is cheap."""
import functools
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest
from conftest import ROOT

from experiment_utils import gen_experim
from experiments import main as experiments_main
from scaling_laws.results_layout import read_metrics_rows, run_paths_for
from scaling_laws.submit.manifest import build_manifest, write_manifest
from scaling_laws.validate import validate_experiment


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
    assert bad_value.returncode == 2 and "activation='tanh' is not allowed; choose one of gelu, relu, silu, swiglu, geglu, glu" \
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


BAD_STUDIES = '''
from experiment_definitions import study
from experiment_utils import gen_experim

TINY = dict(num_layers=1, seq_length=32, target_effective_batch_size=8, max_tokens_training=2048)

@study("NESTED")
def nested():
    return [gen_experim(8, folder_name="B", **TINY), gen_experim(16, folder_name="B", **TINY)]

@study("STRING_SEQ")
def string_seq():
    return gen_experim(8, folder_name="B", num_layers=1, seq_length="64")

@study("HUGE")
def huge():
    return gen_experim(2 ** 20, folder_name="B")

@study("GONE_DATA")
def gone_data():
    return (gen_experim(8, label="here", folder_name="G", **TINY)
            + gen_experim(8, label="gone", folder_name="G", dataset=MISSING, **TINY))
'''


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def in_process(capsys, *args) -> Result:
    """experiments.main in this process: what the command prints and returns, without starting Python again."""
    code = experiments_main(list(args))
    out = capsys.readouterr()
    return Result(code, out.out, out.err)


def one_clear_line(result, *fragments):
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.fixture
def bad_definitions(tmp_path) -> str:
    defs = tmp_path / "bad.py"
    defs.write_text(BAD_STUDIES.replace("MISSING", repr(str(tmp_path / "nope"))))
    return str(defs)


def test_bad_inputs_get_one_clear_line_and_exit_2(tmp_path, bad_definitions, capsys, monkeypatch):
    run = functools.partial(in_process, capsys)
    one_clear_line(run("SMOKE", "--list", "seq_length=0"), "seq_length=0 must be > 0")
    one_clear_line(run("SMOKE", "--list", "target_effective_batch_size=0"), "target_effective_batch_size=0 must be > 0")
    one_clear_line(run("SMOKE", "--list", "learning_rate=inf"), "learning_rate=inf is not a finite number")
    one_clear_line(run("NESTED", "--list", "--definitions", bad_definitions), "item 0 of the study's list is a list")
    one_clear_line(run("STRING_SEQ", "--list", "--definitions", bad_definitions), "seq_length='64' has type str")
    one_clear_line(run("HUGE", "--list", "--definitions", bad_definitions), "hidden_dim=1048576", "gpu_memory_gb=80")
    missing = tmp_path / "missing.json"
    one_clear_line(run("--manifest", str(missing), "--index", "0"), f"manifest {missing} does not exist")
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"version": 1, "experiments": [')
    one_clear_line(run("--manifest", str(corrupt), "--index", "0"), f"manifest {corrupt} cannot be read as JSON")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "abc")
    one_clear_line(run("SMOKE"), "SLURM_ARRAY_TASK_ID='abc' is not an array index")
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    monkeypatch.setenv("SCALING_RESULTS_DIR", str(a_file))
    one_clear_line(run("SMOKE", "--status"), f"SCALING_RESULTS_DIR='{a_file}' is a file, not a folder")


def test_status_shows_every_run_when_one_dataset_is_gone(bad_definitions, capsys):
    status = in_process(capsys, "GONE_DATA", "--status", "--definitions", bad_definitions)

    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[1].split()[:3] == ["0", "here", "not"] and lines[2].split()[:3] == ["1", "gone", "not"]
    assert re.search(r"^  gone: dataset='.*nope' does not exist", status.stdout, re.MULTILINE)
    assert in_process(capsys, "GONE_DATA", "--list", "--definitions", bad_definitions).returncode == 2


def test_a_manifest_entry_that_no_longer_validates_leaves_a_failed_marker(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("text " * 2000)
    cfg = validate_experiment(gen_experim(8, label="vanished", folder_name="V", num_layers=1, seq_length=32,
                                          max_tokens_training=2048, dataset=str(corpus))[0])
    manifest = write_manifest(build_manifest("V", [cfg], [0]))
    corpus.unlink()  # the dataset is gone between submission and the task's start

    one_clear_line(in_process(capsys, "--manifest", str(manifest), "--index", "0"), "does not exist")

    failed = json.loads(run_paths_for("V", "vanished").failed_marker.read_text())
    assert "does not exist" in failed["error"] and failed["traceback"] == ""
