"""submit_job.sh against the real local Slurm (the `local_slurm` fixture; a missing Slurm FAILS).

One module-wide batch of submissions runs every scenario at once, to keep the suite short:
PREEMPT (two identical runs, one signalled, its scontrol killed by the job's own SIGTERM after
requeueing), SMOKE (-c 2), FAILING (one good run, one with too little data, one whose dataset is
deleted after submission), SPLIT (an array split at MaxArraySize 2); and, submitted by their own tests, KILLED (runs
SIGKILLed, then their CSV cut or their checkpoint corrupted, then --rerun failed), QUEUE (one
long run submitted twice at once: the queue and the submit lock let only one through) and SHARED
(8 runs in 3 tasks with -3, one task signalled). Every submission says --gpus 0: the local Slurm's GPUs are fake.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest
from conftest import rows_without_timing

from experiment_utils import gen_experim
from scaling_laws.submit.manifest import build_manifest, read_manifest, write_manifest
from scaling_laws.validate import validate_experiment
from scaling_laws.results_layout import read_json, read_metrics_rows, run_paths_for
from slurm_fixtures import JobOutcome, local_slurm  # noqa: F401  (local_slurm is the fixture)
from scaling_laws.submit.sbatch import max_array_size_from_scontrol

REPO = Path(__file__).resolve().parents[1]
WAIT_S = 240  # bound on every wait for jobs
RELAUNCH_GRACE_S = 5  # slurmd refuses to relaunch a job it killed moments ago
DEFINITIONS = '''
from experiment_definitions import study
from experiment_utils import gen_experim

TINY = dict(num_layers=1, seq_length=32, target_effective_batch_size=8, eval_sequences=16)
FIVE_STEPS = dict(max_tokens_training=8 * 32 * 5, eval_interval=10, **TINY)


@study("FAILING")
def failing():
    return (gen_experim(8, label="ok", folder_name="FAILING", **FIVE_STEPS)
            + gen_experim(8, label="short_data", folder_name="FAILING", dataset=SHORT_TXT, **FIVE_STEPS)
            + gen_experim(8, label="gone_data", folder_name="FAILING", dataset=GONE_TXT, **FIVE_STEPS))


@study("SPLIT")
def split():
    return sum((gen_experim(8, label=f"r{i}", folder_name="SPLIT", model_seed=i, **FIVE_STEPS) for i in range(3)), [])


@study("SHARED")
def shared():  # with -3: task 0 runs long, e3, e6; task 1 e1, e4, e7; task 2 e2, e5
    return (gen_experim(8, label="long", folder_name="SHARED", max_tokens_training=8 * 32 * 600, **TINY)
            + sum((gen_experim(8, label=f"e{i}", folder_name="SHARED", model_seed=i, **FIVE_STEPS)
                   for i in range(1, 8)), []))


@study("PACKED")
def packed():  # with -1 --per-gpu 2: one task runs "long" beside p1, p2, p3 (two at once)
    return (gen_experim(8, label="long", folder_name="PACKED", max_tokens_training=8 * 32 * 600, **TINY)
            + sum((gen_experim(8, label=f"p{i}", folder_name="PACKED", model_seed=i, **FIVE_STEPS)
                   for i in range(1, 4)), []))


@study("PREEMPT")
def preempt():  # two identical runs: "signalled" gets USR1 mid-run, "straight" is the reference
    return sum((gen_experim(16, label=label, folder_name="PREEMPT", max_tokens_training=8 * 32 * 800,
                            eval_interval=100, **TINY) for label in ("signalled", "straight")), [])


@study("KILLED")
def killed():  # three identical runs: two SIGKILLed mid-run (long enough, seconds, to checkpoint first), then the CSV loses rows or the checkpoint is cut
    return sum((gen_experim(16, label=label, folder_name="KILLED", max_tokens_training=8 * 32 * 2500,
                            eval_interval=100, **TINY) for label in ("reference", "cut_csv", "bad_checkpoint")), [])


@study("QUEUE")
def queue():  # hours on one core: only ever queued, then cancelled
    return gen_experim(16, label="long", folder_name="QUEUE", max_tokens_training=8 * 32 * 10**6, **TINY)
'''
# The job's own SIGTERM can kill scontrol after it requeued the job: this one always dies that way.
SCONTROL_KILLED_AFTER_REQUEUE = """#!/bin/bash
if [ "$1" = requeue ]; then /usr/bin/scontrol "$@"; kill -TERM $$; fi
exec /usr/bin/scontrol "$@"
"""


class Submitted:
    """The module's submissions: where results go, and each study's printed output and job ids."""

    def __init__(self, root: Path, definitions: Path):
        self.root, self.definitions = root, definitions
        self.env = {**os.environ, "SCALING_RESULTS_DIR": str(root), "PYTHON": sys.executable}
        self.outputs: dict[str, str] = {}
        self.job_ids: dict[str, list[str]] = {}

    def command(self, *args: str) -> list[str]:
        return ["bash", str(REPO / "submit_job.sh"), *args, "--gpus", "0", "--definitions", str(self.definitions)]

    def submit(self, key: str, *args: str, env: Optional[dict] = None) -> str:
        proc = subprocess.run(self.command(*args), capture_output=True, text=True, env=env or self.env, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        self.outputs[key] = proc.stdout
        self.job_ids[key] = re.search(r"^job ids: (.*)$", proc.stdout, re.MULTILINE).group(1).split()
        return proc.stdout

    def dry_run(self, *args: str) -> str:
        proc = subprocess.run(self.command(*args, "--dry-run"), capture_output=True, text=True, env=self.env,
                              timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
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
    short_txt, gone_txt = work / "short.txt", work / "gone.txt"
    short_txt.write_text("too short for seq_length 32")  # valid at definition time, a DataError at run time
    gone_txt.write_text("deleted right after submission " * 100)
    definitions = work / "studies.py"
    definitions.write_text(DEFINITIONS.replace("SHORT_TXT", repr(str(short_txt))).replace("GONE_TXT",
                                                                                         repr(str(gone_txt))))
    runs = Submitted(work / "results", definitions)
    runs.gone_txt = gone_txt
    fake_bin = work / "bin"
    fake_bin.mkdir()
    (fake_bin / "scontrol").write_text(SCONTROL_KILLED_AFTER_REQUEUE)
    (fake_bin / "scontrol").chmod(0o755)
    # first, so its tasks start first and are caught mid-run; its tasks see the scontrol above
    runs.submit("PREEMPT", "PREEMPT", env={**runs.env, "PATH": f"{fake_bin}:{os.environ['PATH']}"})
    runs.submit("SMOKE", "SMOKE", "-c", "2")
    runs.submit("FAILING", "FAILING")
    gone_txt.unlink()  # the task of gone_data starts after this: its dataset is gone
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


def scancel(*args: str) -> None:
    """``scancel *args``, retried while slurmctld answers "Job can not be altered now, try again later"
    (it does for a moment while a job starts or changes state)."""
    def sent() -> bool:
        proc = subprocess.run(["scancel", *args], capture_output=True, text=True)
        if proc.returncode != 0 and "try again later" not in proc.stderr:
            raise AssertionError(f"scancel {' '.join(args)} failed: {proc.stderr}")
        return proc.returncode == 0
    wait_until(sent, 60, f"scancel {' '.join(args)} kept being refused", poll_s=1.0)


def usr1_mid_run(task: str, csv: Path) -> None:
    """The time-limit warning to array task ``task`` once its run wrote 20 rows; then, as Slurm
    holds a requeued job for about two minutes (BeginTime), release it at once."""
    wait_until(lambda: len(read_metrics_rows(csv)) >= 20, WAIT_S, f"{task} never wrote 20 rows to {csv.name}")
    scancel("--signal=USR1", "--batch", task)
    wait_until(lambda: queue_state(task) == "PENDING BeginTime", 60, f"{task} was not requeued")
    release(task)


def release(task: str) -> None:
    """Start requeued ``task`` now instead of after Slurm's hold of about two minutes. slurmd refuses to
    launch a job it killed moments ago ("already killed, do not launch batch job": the task then FAILS
    without running), so give it a few seconds to forget first."""
    time.sleep(RELAUNCH_GRACE_S)
    subprocess.run(["scontrol", "update", f"JobId={task}", "StartTime=now"], check=True)


def test_usr1_checkpoints_requeues_and_resumes_to_the_uninterrupted_csv(submitted, local_slurm):
    job, = submitted.job_ids["PREEMPT"]
    signalled = submitted.paths("PREEMPT", "signalled")
    wait_until(lambda: len(read_metrics_rows(signalled.csv)) >= 20, WAIT_S, "PREEMPT task 0 never wrote 20 rows")
    scancel("--signal=USR1", "--batch", f"{job}_0")
    # Slurm holds a requeued job for about two minutes (BeginTime); release it now.
    wait_until(lambda: queue_state(f"{job}_0") == "PENDING BeginTime", 60, "task 0 was not requeued")
    status = submitted.status("PREEMPT")  # held by Slurm for about two minutes: requeued, not resubmitted
    rerun = submitted.dry_run("PREEMPT", "--rerun", "failed")
    release(f"{job}_0")

    assert re.search(r"^\s+0\s+signalled\s+requeued\b", status, re.MULTILINE), status
    assert "submitting 0" in rerun and "nothing to submit" in rerun and "1 requeued" in rerun
    outcomes = local_slurm.wait_for_jobs([job], timeout_s=WAIT_S)

    assert outcomes == {f"{job}_0": JobOutcome("COMPLETED", 0, 0), f"{job}_1": JobOutcome("COMPLETED", 0, 0)}
    log = signalled.log.read_text()
    assert "stopped by SIGUSR1" in log and f"requeueing Slurm task {job}_0" in log and "restart=1" in log
    assert "could not requeue" not in log  # its scontrol was killed, but the restart count says it requeued
    assert log.count("===== attempt") == 2 and "resumed from step " in log
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
    assert "stopped by SIGUSR1" in log and f"requeueing Slurm task {job}_0" in log and log.count("===== attempt") == 2
    assert [int(row["optimizer_step"]) for row in read_metrics_rows(long.csv)] == list(range(1, 601))
    for task, labels in enumerate((["e3", "e6"], ["e1", "e4", "e7"], ["e2", "e5"])):
        restart = 1 if task == 0 else 0  # task 0's other runs ran only after its requeue: they resumed the share
        for label in labels:
            paths = submitted.paths("SHARED", label)
            header, = [line for line in paths.log.read_text().splitlines() if line.startswith("===== attempt")]
            assert f"slurm_job={job}_{task} restart={restart}" in header and paths.done_marker.exists()
    status = submitted.status("SHARED")
    assert "\n8 complete\nstudy ETA: done" in status and re.search(r"^\s+0\s+long\s+complete\b.* 0/3$", status, re.M)


def test_per_gpu_2_packs_a_share_two_at_once_and_a_requeue_resumes_every_packed_run(submitted, local_slurm):
    submitted.submit("PACKED", "-1", "--per-gpu", "2", "--cpus", "2", "PACKED")
    job, = submitted.job_ids["PACKED"]
    long = submitted.paths("PACKED", "long")
    usr1_mid_run(f"{job}_0", long.csv)

    outcomes = local_slurm.wait_for_jobs([job], timeout_s=WAIT_S)

    assert outcomes == {f"{job}_0": JobOutcome("COMPLETED", 0, 0)}
    array_log = next((submitted.root / "PACKED" / ".slurm").glob("*.log")).read_text()
    assert array_log.count("array task 0: 4 runs in 2 slots (2 per CPU)") == 2  # first attempt and the requeued one
    assert "stopped by SIGUSR1 after its runs checkpointed" in array_log and "requeueing Slurm task" in array_log
    log = long.log.read_text()
    assert log.count("===== attempt") == 2 and "resumed from step " in log and "could not requeue" not in log
    assert [int(row["optimizer_step"]) for row in read_metrics_rows(long.csv)] == list(range(1, 601))
    # p1 started beside "long", before its USR1: in turn it would have waited for the requeued attempt
    first_attempt = submitted.paths("PACKED", "p1").log.read_text().splitlines()[0]
    assert first_attempt.startswith("===== attempt") and f"slurm_job={job}_0 restart=0" in first_attempt
    assert "\n4 complete\n" in submitted.status("PACKED")


def test_per_gpu_without_dash_n_is_refused_before_anything_is_written(submitted):
    proc = subprocess.run(submitted.command("PACKED", "--per-gpu", "2", "--dry-run"), capture_output=True, text=True,
                          env=submitted.env, timeout=120)
    assert proc.returncode == 2 and "without -N every task runs one; add -N (e.g. -2" in proc.stderr, proc.stderr


def test_smoke_study_completes_with_concurrency_cap(submitted, local_slurm):
    assert "--array=0-5%2" in submitted.outputs["SMOKE"]
    job, = submitted.job_ids["SMOKE"]

    outcomes = local_slurm.wait_for_jobs([job], timeout_s=WAIT_S)

    assert outcomes == {f"{job}_{i}": JobOutcome("COMPLETED", 0, 0) for i in range(6)}
    for label in ("d8", "d12", "d16", "d20", "d24", "d32"):
        paths = submitted.paths("SMOKE", label)
        assert paths.done_marker.exists() and len(read_metrics_rows(paths.csv)) == 30
    assert "\n6 complete\nstudy ETA: done" in submitted.status("SMOKE")


def test_failed_runs_show_in_status_and_rerun_failed_submits_only_them(submitted, local_slurm):
    job, = submitted.job_ids["FAILING"]

    outcomes = local_slurm.wait_for_jobs([job], timeout_s=WAIT_S)

    assert outcomes == {f"{job}_0": JobOutcome("COMPLETED", 0, 0), f"{job}_1": JobOutcome("FAILED", 2, 0),
                        f"{job}_2": JobOutcome("FAILED", 2, 0)}
    status = submitted.status("FAILING")  # although gone_data's dataset no longer exists
    assert re.search(r"^\s+1\s+short_data\s+failed\b", status, re.MULTILINE) and "DataError" in status
    assert re.search(r"^\s+2\s+gone_data\s+failed\b", status, re.MULTILINE)
    assert re.search(r"^  gone_data: failed: ConfigError: dataset=.*gone.txt' does not exist", status, re.MULTILINE)
    log = submitted.paths("FAILING", "short_data").log.read_text()
    assert "REFUSED: dataset" in log and "Traceback" not in log  # bad data: one line, no traceback
    assert "does not exist" in read_json(submitted.paths("FAILING", "gone_data").failed_marker)["error"]

    refused = subprocess.run(submitted.command("FAILING", "--rerun", "failed"), capture_output=True, text=True,
                             env=submitted.env, timeout=120)
    assert refused.returncode == 2 and "gone.txt' does not exist" in refused.stderr  # nothing submitted
    submitted.gone_txt.write_text("back again " * 100)
    output = submitted.submit("RERUN", "FAILING", "--rerun", "failed")
    rerun_job, = submitted.job_ids["RERUN"]
    scancel(rerun_job)  # the manifest is the point; don't run it again
    assert re.search(r"^sbatch --parsable --array=0-1 ", output, re.MULTILINE)
    manifest = read_manifest(Path(re.search(r"^manifest (.*)$", output, re.MULTILINE).group(1)))
    assert [exp["label"] for exp in manifest["experiments"]] == ["short_data", "gone_data"]
    assert manifest["study_indices"] == [1, 2]


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


def kill_when_rows(job: str, task: int, paths, rows: int) -> None:
    """SIGKILL array task ``task`` (what the OOM killer or a lost node does) once its CSV has ``rows`` rows
    and it has checkpointed."""
    wait_until(lambda: len(read_metrics_rows(paths.csv)) >= rows and paths.checkpoint.exists(), WAIT_S,
               f"{paths.label} never wrote {rows} rows and a checkpoint")
    scancel("--full", "--signal=KILL", f"{job}_{task}")


def test_killed_runs_with_a_cut_csv_or_a_bad_checkpoint_rerun_to_the_uninterrupted_csv(submitted, local_slurm):
    submitted.submit("KILLED", "KILLED", env={**submitted.env, "SCALING_CHECKPOINT_INTERVAL_S": "1"})
    job, = submitted.job_ids["KILLED"]
    reference, cut, bad = (submitted.paths("KILLED", label) for label in ("reference", "cut_csv", "bad_checkpoint"))
    kill_when_rows(job, 1, cut, 100)
    kill_when_rows(job, 2, bad, 100)
    local_slurm.wait_for_jobs([job], timeout_s=WAIT_S)
    cut.csv.write_text("".join(cut.csv.read_text().splitlines(keepends=True)[:51]))  # rows its checkpoint counts
    bad.checkpoint.write_bytes(bad.checkpoint.read_bytes()[:1000])  # truncated
    status = submitted.status("KILLED")  # killed: their heartbeats' PIDs are gone, so "incomplete" at once
    assert re.search(r"^\s+1\s+cut_csv\s+incomplete\b", status, re.MULTILINE), status
    assert re.search(r"^\s+2\s+bad_checkpoint\s+incomplete\b", status, re.MULTILINE), status

    submitted.submit("KILLED_RERUN", "KILLED", "--rerun", "failed")
    outcomes = local_slurm.wait_for_jobs(submitted.job_ids["KILLED_RERUN"], timeout_s=WAIT_S)

    assert list(outcomes.values()) == [JobOutcome("COMPLETED", 0, 0)] * 2
    assert "cut_csv.csv holds 50 intact rows" in cut.log.read_text()
    assert "does not load" in bad.log.read_text() and list(bad.folder.glob("bad_checkpoint.ckpt.bad-*.pt"))
    for paths in (cut, bad):
        assert paths.done_marker.exists()
        assert rows_without_timing(paths.csv) == rows_without_timing(reference.csv)


def test_array_tasks_that_all_run_one_run_train_it_once(submitted, local_slurm):
    cfg = validate_experiment(gen_experim(16, label="shared", folder_name="CLAIM", num_layers=1, seq_length=32,
                                          target_effective_batch_size=8, eval_sequences=16,
                                          max_tokens_training=8 * 32 * 150)[0])
    manifest = write_manifest(build_manifest("CLAIM", [cfg], [0]), root=submitted.root)
    task = (f"cd {REPO} && SCALING_RESULTS_DIR={submitted.root} exec {sys.executable} experiments.py "
            f"--manifest {manifest} --index 0")
    job = local_slurm.sbatch(["--array=0-2", f"--output={submitted.root}/claim-%a.out", "--export=ALL",
                              "--wrap", task])

    outcomes = local_slurm.wait_for_jobs([job], timeout_s=WAIT_S)

    paths = submitted.paths("CLAIM", "shared")
    assert paths.log.read_text().count("training starts from step 0") == 1  # one trained
    assert paths.done_marker.exists() and len(read_metrics_rows(paths.csv)) == 150
    assert set(outcomes.values()) == {JobOutcome("COMPLETED", 0, 0)}  # the others were busy or skipped it: exit 0
    said = [path.read_text() for path in sorted(submitted.root.glob("claim-*.out"))]
    assert sum("another attempt holds it (" in text or "already complete" in text for text in said) == 2


def test_a_study_submitted_twice_at_once_is_queued_once(submitted, local_slurm):
    both = [subprocess.Popen(submitted.command("QUEUE"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, env=submitted.env) for _ in range(2)]
    outputs = [proc.communicate(timeout=120)[0] for proc in both]
    try:
        assert [proc.returncode for proc in both] == [0, 0], outputs
        job_lines = [re.search(r"^job ids: (.*)$", out, re.MULTILINE) for out in outputs]
        jobs = [match.group(1) for match in job_lines if match]
        assert len(jobs) == 1, outputs  # one submitted, the other found it
        second = next(out for out, match in zip(outputs, job_lines) if not match)
        assert "submitting 0" in second and "nothing to submit" in second
        assert re.search(r"considered 1 \(1 (queued|running)\)", second), second
        status = submitted.status("QUEUE")
        assert re.search(r"^\s+0\s+long\s+(queued|running)\b", status, re.MULTILINE), status
        assert "submitting 0" in submitted.dry_run("QUEUE", "--rerun", "failed")
    finally:
        for out in outputs:
            for job in re.findall(r"^job ids: (.*)$", out, re.MULTILINE):
                subprocess.run(["scancel", *job.split()], check=False)


def test_when_sbatch_refuses_nothing_is_left_behind_or_lost(submitted, local_slurm):
    local_slurm.wait_for_jobs(submitted.job_ids["SPLIT"], timeout_s=WAIT_S)
    folder = submitted.root / "SPLIT"
    before = sorted(path.relative_to(folder) for path in folder.rglob("*") if path.is_file())

    proc = subprocess.run(submitted.command("SPLIT", "--rerun", "all", "--partition", "no_such_partition"),
                          capture_output=True, text=True, env=submitted.env, timeout=120)

    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "sbatch" in proc.stderr and "no_such_partition" in proc.stderr
    after = sorted(path.relative_to(folder) for path in folder.rglob("*") if path.is_file())
    assert after == before  # no manifest or script left; the old results put back from .discarded
    assert all(submitted.paths("SPLIT", f"r{i}").done_marker.exists() for i in range(3))
