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
from scaling_laws.submit.manifest import (build_manifest, manifest_share, read_manifest, task_assignments,
                                          write_manifest)
from scaling_laws.results_layout import atomic_write_json, run_paths_for
from scaling_laws.submit.resources import Resources
from scaling_laws.submit.sbatch import array_chunks, parse_args, render_script, sbatch_command
from scaling_laws.submit.selection import select_runs, task_shares
from scaling_laws.studies.loader import load_studies, load_study
from scaling_laws.studies.tables import format_status_table

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden" / "array.sbatch"


def submit_job(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "submit_job.sh"), *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHON": sys.executable}, timeout=120)


# ----------------------------------------------------------------------------- arguments
def test_dash_number_is_the_number_of_array_tasks():
    args = parse_args(["-50", "SMOKE", "-c", "4", "--time", "1:00:00", "--gpus", "a100:2", "--mem", "16G"])
    assert (args.tasks, args.study, args.concurrency, args.time, args.gpus, args.mem) == \
        (50, "SMOKE", 4, "1:00:00", "a100:2", "16G")
    assert (args.first, args.cpus, args.grace_s, args.rerun, args.dry_run) == (None, None, 120, None, False)
    assert parse_args(["SMOKE", "-c", "2", "learning_rate=1e-3"]).overrides == ["learning_rate=1e-3"]
    assert (parse_args(["SMOKE", "--tasks", "3"]).tasks, parse_args(["SMOKE", "--first", "2"]).first) == (3, 2)


@pytest.mark.parametrize("count, tasks, shares", [(8, 3, [[0, 3, 6], [1, 4, 7], [2, 5]]), (3, None, [[0], [1], [2]]),
                                                  (2, 5, [[0], [1]]), (4, 1, [[0, 1, 2, 3]])])
def test_task_t_takes_experiments_t_t_plus_n_and_so_on(count, tasks, shares):
    assert task_shares(count, tasks) == shares
    assert sorted(sum(shares, [])) == list(range(count))  # every experiment in exactly one task


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
    assert "5 array tasks share them" in proc.stdout and "  task 0: d8 d32\n  task 1: d12\n" in proc.stdout
    assert "#SBATCH --signal=B:USR1@120" in proc.stdout
    assert not results_dir.exists()


def sbatch_lines(*args: str) -> list[str]:
    proc = submit_job("SMOKE", "--dry-run", *args)
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line.startswith("#SBATCH")]


def test_dry_run_shows_every_sbatch_line_with_one_gpu_per_transformer_task_by_default():
    assert sbatch_lines()[-4:] == ["#SBATCH --ntasks=1", "#SBATCH --cpus-per-task=4", "#SBATCH --mem=16G",
                                   "#SBATCH --gres=gpu:1"]
    assert sbatch_lines("--gpus", "0")[-2:] == ["#SBATCH --ntasks=1", "#SBATCH --cpus-per-task=1"]
    assert sbatch_lines("--gpus", "h100:2", "--cpus", "6", "--partition", "gpu")[-4:] == \
        ["#SBATCH --cpus-per-task=6", "#SBATCH --partition=gpu", "#SBATCH --mem=32G", "#SBATCH --gres=gpu:h100:2"]



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
    assert read_manifest(path)["study_indices"] == [2, 3] and read_manifest(path)["tasks"] == [[0], [1]]
    assert manifest_share(path, 1) == [experiments[3].to_dict()]
    with pytest.raises(ConfigError, match="out of range"):
        manifest_share(path, 2)
    with pytest.raises(ConfigError, match="both SMOKE/d8"):
        build_manifest("SMOKE", [experiments[0], experiments[0]], [0, 0])


def test_shared_manifest_records_each_tasks_experiments_and_status_shows_them(results_dir):
    experiments = load_study("SMOKE")
    path = write_manifest(build_manifest("SMOKE", experiments, list(range(6)), tasks=4))
    assert read_manifest(path)["tasks"] == [[0, 4], [1, 5], [2], [3]]
    assert [exp["label"] for exp in manifest_share(path, 0)] == ["d8", "d24"]
    with pytest.raises(ConfigError, match="task 4 is out of range: .* has 4 tasks, valid 0..3"):
        manifest_share(path, 4)
    assert task_assignments(experiments)[("SMOKE", "d24")] == (0, 4)
    status = {line.split()[1]: line for line in
              format_status_table(experiments, tasks=task_assignments(experiments)).splitlines()[1:-1]}
    assert status["d24"].split()[-1] == "0/4" and status["d12"].split()[-1] == "1/4"


def test_version_1_manifests_still_run_one_entry_per_task(results_dir):
    experiments = load_study("SMOKE")
    manifest = build_manifest("SMOKE", experiments[:2], [0, 1])
    old = {k: v for k, v in manifest.items() if k != "tasks"} | {"version": 1}  # queued before -N shared tasks
    path = write_manifest(old)
    assert [manifest_share(path, task) for task in (0, 1)] == [[experiments[0].to_dict()], [experiments[1].to_dict()]]


def test_manifest_task_runs_its_share_through_experiments_cli(tiny_fields):
    changes = [f"{k}={v}" for k, v in tiny_fields.items() if k != "hidden_dim"]
    experiments = load_study("SMOKE", changes)[:2]
    path = write_manifest(build_manifest("SMOKE", experiments, [0, 1], tasks=1))
    assert experiments_main(["--manifest", str(path), "--index", "0"]) == 0
    assert smoke_paths("d8").done_marker.exists() and smoke_paths("d12").done_marker.exists()
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
