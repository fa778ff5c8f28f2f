"""experiments.py --submit (submitit) against the real local Slurm (a missing Slurm FAILS).
Submissions say --gpus 0: the local Slurm's GPUs are fake."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from scaling_laws.results_layout import run_paths_for
from slurm_fixtures import local_slurm  # noqa: F401  (local_slurm is the fixture)

REPO = Path(__file__).resolve().parents[1]
WAIT_S = 180  # bound on each --wait
CANCEL_REPORTED_WITHIN_S = 60  # sacct has the CANCELLED record a few seconds after scancel
DEFINITIONS = '''
from experiment_definitions import study
from experiment_utils import gen_experim

TINY = dict(num_layers=1, seq_length=32, target_effective_batch_size=8, eval_sequences=16, eval_interval=10)


@study("SUBMITIT")
def submitit_study():
    return sum((gen_experim(8, label=f"r{i}", folder_name="SUBMITIT", model_seed=i, max_tokens_training=8 * 32 * 5,
                            **TINY) for i in range(3)), [])


@study("LONG")
def long_study():  # hours on one core: only ever cancelled (so its 23 epochs over the data do not matter)
    return gen_experim(16, label="long", folder_name="LONG", max_tokens_training=8 * 32 * 10**6,
                       warn_above_epochs=100.0, **TINY)
'''


def submit_command(tmp_path: Path, study: str, *args: str) -> tuple[list[str], dict]:
    definitions = tmp_path / "studies.py"
    definitions.write_text(DEFINITIONS)
    env = {**os.environ, "SCALING_RESULTS_DIR": str(tmp_path / "results")}
    cmd = [sys.executable, str(REPO / "experiments.py"), study, "--definitions", str(definitions), "--submit",
           "--gpus", "0", *args]
    return cmd, env


def test_submitit_array_of_2_tasks_shares_3_runs_and_wait_reports_each_task(local_slurm, tmp_path):
    cmd, env = submit_command(tmp_path, "SUBMITIT", "-2", "-c", "2", "--wait")

    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=WAIT_S)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^submitted SUBMITIT/r0,r2 as job \d+_0$", proc.stdout, re.MULTILINE)
    assert re.search(r"^r0,r2 \(job \d+_0\): COMPLETED: r0 complete after 5 steps, loss [\d.]+; "
                     r"r2 complete after 5 steps", proc.stdout, re.MULTILINE)
    assert re.search(r"^r1 \(job \d+_1\): COMPLETED: complete after 5 steps", proc.stdout, re.MULTILINE)
    root = tmp_path / "results"
    assert all(run_paths_for("SUBMITIT", f"r{i}", root=root).done_marker.exists() for i in range(3))


def test_cancelled_submitit_job_is_reported_not_waited_on(local_slurm, tmp_path):
    cmd, env = submit_command(tmp_path, "LONG", "--wait")
    heartbeat = run_paths_for("LONG", "long", root=tmp_path / "results").heartbeat
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as proc:
        job_id = re.search(r"as job (\d+)", proc.stdout.readline() + proc.stdout.readline()).group(1)
        deadline = time.monotonic() + WAIT_S
        while not heartbeat.exists():  # cancel it while it trains, not while it waits in the queue
            assert time.monotonic() < deadline, "the LONG task never started"
            time.sleep(0.2)
        subprocess.run(["scancel", job_id], check=True)
        cancelled_at = time.monotonic()
        output, _ = proc.communicate(timeout=CANCEL_REPORTED_WITHIN_S)

    assert time.monotonic() - cancelled_at < CANCEL_REPORTED_WITHIN_S
    assert proc.returncode == 1
    assert f"long (job {job_id}): CANCELLED" in output
