"""submit_job.sh against the real local Slurm (the `local_slurm` fixture; a missing Slurm FAILS).

One module-wide batch of submissions runs every scenario at once, to keep the suite short:
PREEMPT (two identical runs, one signalled), SMOKE (-c 2), FAILING (one good, one bad run) and
SPLIT (an array split at MaxArraySize 2). SHARED (8 runs in 3 tasks with -3, one task
signalled) is submitted by its own test, so that its long run is still training when the
test signals it. Every submission says --gpus 0: the local Slurm's GPUs are fake.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import rows_without_timing

from scaling_laws.submit.manifest import read_manifest
from scaling_laws.results_layout import read_metrics_rows, run_paths_for
from slurm_fixtures import JobOutcome, local_slurm  # noqa: F401  (local_slurm is the fixture)
from scaling_laws.submit.sbatch import max_array_size_from_scontrol

REPO = Path(__file__).resolve().parents[1]
WAIT_S = 240  # bound on every wait for jobs
DEFINITIONS = '''
from experiment_definitions import study
from experiment_utils import gen_experim

TINY = dict(num_layers=1, seq_length=32, target_effective_batch_size=8, eval_sequences=16)
FIVE_STEPS = dict(max_tokens_training=8 * 32 * 5, eval_interval=10, **TINY)


@study("FAILING")
def failing():
    return (gen_experim(8, label="ok", folder_name="FAILING", **FIVE_STEPS)
            + gen_experim(8, label="short_data", folder_name="FAILING", dataset=SHORT_TXT, **FIVE_STEPS))


@study("SPLIT")
def split():
    return sum((gen_experim(8, label=f"r{i}", folder_name="SPLIT", model_seed=i, **FIVE_STEPS) for i in range(3)), [])


@study("SHARED")
def shared():  # with -3: task 0 runs long, e3, e6; task 1 e1, e4, e7; task 2 e2, e5
    return (gen_experim(8, label="long", folder_name="SHARED", max_tokens_training=8 * 32 * 600, **TINY)
            + sum((gen_experim(8, label=f"e{i}", folder_name="SHARED", model_seed=i, **FIVE_STEPS)
                   for i in range(1, 8)), []))


@study("PREEMPT")
def preempt():  # two identical runs: "signalled" gets USR1 mid-run, "straight" is the reference
    return sum((gen_experim(16, label=label, folder_name="PREEMPT", max_tokens_training=8 * 32 * 800,
                            eval_interval=100, **TINY) for label in ("signalled", "straight")), [])
'''


class Submitted:
    """The module's submissions: where results go, and each study's printed output and job ids."""

    def __init__(self, root: Path, definitions: Path):
        self.root, self.definitions = root, definitions
        self.env = {**os.environ, "SCALING_RESULTS_DIR": str(root), "PYTHON": sys.executable}
        self.outputs: dict[str, str] = {}
        self.job_ids: dict[str, list[str]] = {}

    def submit(self, key: str, *args: str) -> str:
        proc = subprocess.run(["bash", str(REPO / "submit_job.sh"), *args, "--gpus", "0",
                               "--definitions", str(self.definitions)],
                              capture_output=True, text=True, env=self.env, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        self.outputs[key] = proc.stdout
        self.job_ids[key] = re.search(r"^job ids: (.*)$", proc.stdout, re.MULTILINE).group(1).split()
        return proc.stdout

    def status(self, study: str) -> str:
        proc = subprocess.run([sys.executable, str(REPO / "experiments.py"), study, "--status", "--definitions",
                               str(self.definitions)], capture_output=True, text=True, env=self.env, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def paths(self, folder: str, label: str):
        return run_paths_for(folder, label, root=self.root)


@pytest.fixture(scope="module")
def submitted(local_slurm, tmp_path_factory) -> Submitted:
    work = tmp_path_factory.mktemp("slurm_submit")
    short_txt = work / "short.txt"
    short_txt.write_text("too short for seq_length 32")  # valid at definition time, a DataError at run time
    definitions = work / "studies.py"
    definitions.write_text(DEFINITIONS.replace("SHORT_TXT", repr(str(short_txt))))
    runs = Submitted(work / "results", definitions)
    runs.submit("PREEMPT", "PREEMPT")  # first, so its tasks start first and are caught mid-run
    runs.submit("SMOKE", "SMOKE", "-c", "2")
    runs.submit("FAILING", "FAILING")
    runs.submit("SPLIT", "SPLIT", "--max-array-size", "2")
    return runs


def wait_until(condition, timeout_s: float, what: str, poll_s: float = 0.1):
    deadline = time.monotonic() + timeout_s
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {timeout_s}s: {what}")
        time.sleep(poll_s)
    return result


def queue_state(task: str) -> str:
    return subprocess.run(["squeue", "-h", "-j", task, "-o", "%T %r"], capture_output=True, text=True).stdout.strip()


def usr1_mid_run(task: str, csv: Path) -> None:
    """The time-limit warning to array task ``task`` once its run wrote 20 rows; then, as Slurm
    holds a requeued job for about two minutes (BeginTime), release it at once."""
    wait_until(lambda: len(read_metrics_rows(csv)) >= 20, WAIT_S, f"{task} never wrote 20 rows to {csv.name}")
    subprocess.run(["scancel", "--signal=USR1", "--batch", task], check=True)
    wait_until(lambda: queue_state(task) == "PENDING BeginTime", 60, f"{task} was not requeued")
    subprocess.run(["scontrol", "update", f"JobId={task}", "StartTime=now"], check=True)


def test_usr1_checkpoints_requeues_and_resumes_to_the_uninterrupted_csv(submitted, local_slurm):
    job, = submitted.job_ids["PREEMPT"]
    signalled = submitted.paths("PREEMPT", "signalled")
    usr1_mid_run(f"{job}_0", signalled.csv)

    outcomes = local_slurm.wait_for_jobs([job], timeout_s=WAIT_S)

    assert outcomes == {f"{job}_0": JobOutcome("COMPLETED", 0, 0), f"{job}_1": JobOutcome("COMPLETED", 0, 0)}
    log = signalled.log.read_text()
    assert "stopped by SIGUSR1" in log and f"requeued Slurm task {job}_0" in log and "restart=1" in log
    assert log.count("===== attempt") == 2
    steps = [int(row["optimizer_step"]) for row in read_metrics_rows(signalled.csv)]
    assert steps == list(range(1, 801))
    assert rows_without_timing(signalled.csv) == rows_without_timing(submitted.paths("PREEMPT", "straight").csv)


def test_dash_3_runs_8_experiments_in_3_tasks_and_a_requeued_task_resumes_its_share(submitted, local_slurm):
    submitted.submit("SHARED", "-3", "SHARED")
    assert "3 array tasks share them" in submitted.outputs["SHARED"]
    assert "  task 0: long e3 e6\n  task 1: e1 e4 e7\n  task 2: e2 e5\n" in submitted.outputs["SHARED"]
    job, = submitted.job_ids["SHARED"]
    long = submitted.paths("SHARED", "long")
    usr1_mid_run(f"{job}_0", long.csv)

    outcomes = local_slurm.wait_for_jobs([job], timeout_s=WAIT_S)

    assert outcomes == {f"{job}_{task}": JobOutcome("COMPLETED", 0, 0) for task in range(3)}
    log = long.log.read_text()
    assert "stopped by SIGUSR1" in log and f"requeued Slurm task {job}_0" in log and log.count("===== attempt") == 2
    assert [int(row["optimizer_step"]) for row in read_metrics_rows(long.csv)] == list(range(1, 601))
    for task, labels in enumerate((["e3", "e6"], ["e1", "e4", "e7"], ["e2", "e5"])):
        restart = 1 if task == 0 else 0  # task 0's other runs ran only after its requeue: they resumed the share
        for label in labels:
            paths = submitted.paths("SHARED", label)
            header, = [line for line in paths.log.read_text().splitlines() if line.startswith("===== attempt")]
            assert f"slurm_job={job}_{task} restart={restart}" in header and paths.done_marker.exists()
    status = submitted.status("SHARED")
    assert status.splitlines()[-1] == "8 complete" and re.search(r"^\s+0\s+long\s+complete\b.* 0/3$", status, re.M)


def test_smoke_study_completes_with_concurrency_cap(submitted, local_slurm):
    assert "--array=0-5%2" in submitted.outputs["SMOKE"]
    job, = submitted.job_ids["SMOKE"]

    outcomes = local_slurm.wait_for_jobs([job], timeout_s=WAIT_S)

    assert outcomes == {f"{job}_{i}": JobOutcome("COMPLETED", 0, 0) for i in range(6)}
    for label in ("d8", "d12", "d16", "d20", "d24", "d32"):
        paths = submitted.paths("SMOKE", label)
        assert paths.done_marker.exists() and len(read_metrics_rows(paths.csv)) == 30
    assert submitted.status("SMOKE").splitlines()[-1] == "6 complete"


def test_failed_run_shows_in_status_and_rerun_failed_submits_only_it(submitted, local_slurm):
    job, = submitted.job_ids["FAILING"]

    outcomes = local_slurm.wait_for_jobs([job], timeout_s=WAIT_S)

    assert outcomes == {f"{job}_0": JobOutcome("COMPLETED", 0, 0), f"{job}_1": JobOutcome("FAILED", 1, 0)}
    status = submitted.status("FAILING")
    assert re.search(r"^\s+1\s+short_data\s+failed\b", status, re.MULTILINE) and "DataError" in status
    log = submitted.paths("FAILING", "short_data").log.read_text()
    assert "Traceback (most recent call last)" in log and "DataError" in log

    output = submitted.submit("RERUN", "FAILING", "--rerun", "failed")
    rerun_job, = submitted.job_ids["RERUN"]
    subprocess.run(["scancel", rerun_job], check=True)  # the manifest is the point; don't run it again
    assert re.search(r"^sbatch --parsable --array=0-0 ", output, re.MULTILINE)
    manifest = read_manifest(Path(re.search(r"^manifest (.*)$", output, re.MULTILINE).group(1)))
    assert [exp["label"] for exp in manifest["experiments"]] == ["short_data"] and manifest["study_indices"] == [1]


def test_array_larger_than_max_array_size_is_split_and_completes(submitted, local_slurm):
    commands = [shlex.split(line) for line in submitted.outputs["SPLIT"].splitlines() if line.startswith("sbatch ")]
    assert [(cmd[2], cmd[-1]) for cmd in commands] == [("--array=0-1", "0"), ("--array=0-0", "2")]
    jobs = submitted.job_ids["SPLIT"]

    outcomes = local_slurm.wait_for_jobs(jobs, timeout_s=WAIT_S)

    assert sorted(outcomes) == sorted([f"{jobs[0]}_0", f"{jobs[0]}_1", f"{jobs[1]}_0"])
    assert {o.state for o in outcomes.values()} == {"COMPLETED"}
    assert all(submitted.paths("SPLIT", f"r{i}").done_marker.exists() for i in range(3))


def test_max_array_size_is_read_from_scontrol(local_slurm):
    assert max_array_size_from_scontrol() == local_slurm.max_array_size
