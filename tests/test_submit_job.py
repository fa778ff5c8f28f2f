"""submit_job.sh / slurm_submit.py without a cluster: arguments, selection, manifests, splitting,
and the sbatch script pinned by a golden file (UPDATE_GOLDEN=1 rewrites it)."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from scaling_laws.config import ConfigError
from experiments import main as experiments_main
from scaling_laws.submit.manifest import build_manifest, manifest_experiment, read_manifest, write_manifest
from scaling_laws.results_layout import atomic_write_json, run_paths_for
from scaling_laws.submit.resources import Resources
from scaling_laws.submit.sbatch import array_chunks, parse_args, render_script, sbatch_command
from scaling_laws.submit.selection import select_runs
from scaling_laws.studies.loader import load_studies, load_study

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden" / "array.sbatch"


def submit_job(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "submit_job.sh"), *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHON": sys.executable}, timeout=120)


# ----------------------------------------------------------------------------- arguments
def test_dash_number_is_the_first_n_experiments():
    args = parse_args(["-50", "SMOKE", "-c", "4", "--time", "1:00:00", "--gpus", "a100:2", "--mem", "16G"])
    assert (args.first, args.study, args.concurrency, args.time, args.gpus, args.mem) == \
        (50, "SMOKE", 4, "1:00:00", "a100:2", "16G")
    assert (args.cpus, args.grace_s, args.rerun, args.dry_run) == (1, 120, None, False)
    assert parse_args(["SMOKE", "-c", "2", "learning_rate=1e-3"]).overrides == ["learning_rate=1e-3"]


@pytest.mark.parametrize("bad", [[], ["SMOKE", "--bogus"], ["SMOKE", "-c", "0"], ["SMOKE", "--time", "soon"],
                                 ["SMOKE", "--mem", "4 G"], ["SMOKE", "--rerun", "some"],
                                 ["SMOKE", "--partition", "a;b"], ["NO_SUCH_STUDY", "--dry-run"],
                                 ["SMOKE", "learning_rat=1", "--dry-run"]])
def test_bad_arguments_exit_2_with_usage(bad):
    proc = submit_job(*bad)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "usage:" in proc.stderr and "sbatch" not in proc.stdout


def test_dry_run_prints_split_commands_and_writes_nothing(results_dir):
    proc = submit_job("-5", "SMOKE", "-c", "2", "--max-array-size", "2", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    commands = [line.removeprefix("would run: ") for line in proc.stdout.splitlines() if line.startswith("would run:")]
    arrays = [(shlex.split(c)[2], shlex.split(c)[-1]) for c in commands]
    assert arrays == [("--array=0-1%2", "0"), ("--array=0-1%2", "2"), ("--array=0-0%2", "4")]
    assert "--dependency=afterany:" in commands[1]  # the cap holds across chunks
    assert "#SBATCH --signal=B:USR1@120" in proc.stdout
    assert not results_dir.exists()


# ----------------------------------------------------------------------------- pure helpers
@pytest.mark.parametrize("count, size, chunks", [(3, 1001, [(0, 3)]), (4, 2, [(0, 2), (2, 2)]),
                                                 (10, 4, [(0, 4), (4, 4), (8, 2)]), (1, 1, [(0, 1)])])
def test_array_chunks_keep_indices_below_max_array_size(count, size, chunks):
    assert array_chunks(count, size) == chunks
    assert sum(n for _, n in chunks) == count and all(n <= size for _, n in chunks)


def test_sbatch_command_throttles_and_chains_and_names_its_manifest():
    assert sbatch_command(Path("s.sbatch"), 5, 10, 2, after="41") == \
        ["sbatch", "--parsable", "--array=0-4%2", "--dependency=afterany:41", "s.sbatch", "10"]
    assert sbatch_command(Path("s.sbatch"), 1, 0, None) == ["sbatch", "--parsable", "--array=0-0", "s.sbatch", "0"]
    assert sbatch_command(Path("s.sbatch"), 1, 3, None, manifest=Path("/r/S/.manifests/m.json"))[3] == \
        "--comment=scaling_laws:manifest=/r/S/.manifests/m.json:offset=3"


def test_grace_longer_than_the_time_limit_is_refused_before_anything_is_written(results_dir):
    proc = submit_job("SMOKE", "--time", "5", "--grace-s", "600")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--grace-s 600 is not shorter than --time 5 (300 s)" in proc.stderr
    assert not results_dir.exists()


def golden_args(**changes) -> Resources:
    return Resources(**{**dict(partition="gpu", time="4:00:00", mem="16G", gpus="2", cpus=4, grace_s=180), **changes})


def test_sbatch_script_matches_golden_file():
    text = render_script("SMOKE", Path("/results/SMOKE/.manifests/SMOKE-20250101T000000.000000Z.json"), "SMOKE",
                         golden_args(), Path("/results"), "/venv/bin/python", repo=Path("/repo"))
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_sbatch_script_quotes_shell_words_and_rejects_unsafe_directives():
    manifest = Path("/r/S/.manifests/m.json")
    text = render_script("S", manifest, "S", golden_args(), Path("/r"), "/my venv/bin/python $(x)", repo=Path("/a b"))
    assert "cd '/a b'\n" in text and "exec '/my venv/bin/python $(x)' experiments.py" in text
    with pytest.raises(ConfigError, match="#SBATCH"):
        render_script("S", manifest, "S", golden_args(), Path("/with space"), "python")


# ----------------------------------------------------------------------------- selection and manifests
def smoke_paths(label: str):
    return run_paths_for("SMOKE", label)


def test_selection_skips_complete_and_running_unless_asked():
    experiments = load_study("SMOKE")  # d8 d12 d16 d20 d24 d32
    atomic_write_json(smoke_paths("d8").done_marker, {"status": "complete"})
    atomic_write_json(smoke_paths("d12").failed_marker, {"error": "boom"})
    atomic_write_json(smoke_paths("d16").heartbeat, {})  # fresh: running
    smoke_paths("d20").checkpoint.write_bytes(b"")  # incomplete

    assert select_runs(experiments, None)[0] == [1, 3, 4, 5]
    assert select_runs(experiments, "failed")[0] == [1, 3, 4, 5]
    assert select_runs(experiments, "all")[0] == [0, 1, 3, 4, 5]
    assert select_runs(experiments, None, first=3) == ([1], {"complete": 1, "failed": 1, "running": 1})


def test_manifest_is_written_atomically_and_read_back(results_dir):
    experiments = load_study("SMOKE")
    manifest = build_manifest("SMOKE", experiments[2:4], [2, 3], overrides=("learning_rate=1e-3",))
    path = write_manifest(manifest)

    assert path.parent == results_dir / "SMOKE" / ".manifests" and path.name.startswith("SMOKE-")
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind
    assert read_manifest(path)["study_indices"] == [2, 3]
    assert manifest_experiment(path, 1) == experiments[3]
    with pytest.raises(ConfigError, match="out of range"):
        manifest_experiment(path, 2)
    with pytest.raises(ConfigError, match="both SMOKE/d8"):
        build_manifest("SMOKE", [experiments[0], experiments[0]], [0, 0])


def test_manifest_entry_runs_through_experiments_cli(tiny_fields):
    changes = [f"{k}={v}" for k, v in tiny_fields.items() if k != "hidden_dim"]
    experiment = load_study("SMOKE", changes)[0]
    path = write_manifest(build_manifest("SMOKE", [experiment], [0]))
    assert experiments_main(["--manifest", str(path), "--index", "0"]) == 0
    assert smoke_paths("d8").done_marker.exists()
    assert experiments_main(["--manifest", str(path), "--index", "1"]) == 2


# ----------------------------------------------------------------------------- --definitions
DEFINITIONS = '''
from experiment_definitions import study
from experiment_utils import gen_experim

@study("EXTRA")
def extra():
    return gen_experim(8, folder_name="EXTRA", num_layers=1, seq_length=32, max_tokens_training=2048)
'''


def test_definitions_file_adds_studies_and_can_be_loaded_twice(tmp_path):
    path = tmp_path / "defs.py"
    path.write_text(DEFINITIONS)
    assert "EXTRA" in load_studies(str(path)) and "SMOKE" in load_studies(str(path))
    assert "EXTRA" not in load_studies()  # the built-in registry is untouched
    assert load_study("EXTRA", definitions=str(path))[0].folder_name == "EXTRA"
    path.write_text(DEFINITIONS.replace('"EXTRA")', '"SMOKE")'))
    with pytest.raises(ConfigError, match="already defined"):
        load_studies(str(path))


def test_definitions_file_with_a_studies_dict(tmp_path):
    path = tmp_path / "defs.py"
    path.write_text("from experiment_utils import gen_experim\n"
                    "STUDIES = {'DICT': lambda: gen_experim(8, folder_name='DICT', max_tokens_training=2048)}\n")
    assert load_study("DICT", definitions=str(path))[0].label == "d8"
    assert experiments_main(["DICT", "--definitions", str(path), "--status"]) == 0


def test_study_with_two_runs_of_one_name_is_rejected_before_anything_runs(tmp_path, capsys):
    path = tmp_path / "defs.py"
    path.write_text("from experiment_utils import gen_experim\n"
                    "STUDIES = {'TWICE': lambda: gen_experim(8, folder_name='T') + gen_experim(16, label='d8', "
                    "folder_name='T')}\n")
    assert experiments_main(["TWICE", "--definitions", str(path), "--list"]) == 2
    assert "experiments 0 and 1 are both T/d8" in capsys.readouterr().err
