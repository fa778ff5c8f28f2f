"""End-to-end checks of the local Slurm that scripts/local_slurm.sh brings up (see slurm_fixtures)."""
from __future__ import annotations

import os
import re
import subprocess

from slurm_fixtures import JobOutcome, local_slurm  # noqa: F401  (local_slurm is the fixture)

JOB_TIMEOUT_S = 120  # a 1 s job normally finishes in 2-4 s; the first one after a start can wait 3 s more


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The largest number of (start, end) intervals that are open at the same moment."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    open_now = peak = 0
    for _, delta in events:  # at equal times an end (-1) sorts first: touching intervals do not overlap
        open_now += delta
        peak = max(peak, open_now)
    return peak


def test_array_with_throttle_runs_every_task_at_most_two_at_once(local_slurm, tmp_path):
    task = f'start=$(date +%s.%N); sleep 1; echo "$SLURM_ARRAY_TASK_ID $start $(date +%s.%N)" > {tmp_path}/task_$SLURM_ARRAY_TASK_ID'
    job_id = local_slurm.sbatch(["--array=0-2%2", f"--output={tmp_path}/slurm-%A_%a.out", "--wrap", task])

    outcomes = local_slurm.wait_for_jobs([job_id], timeout_s=JOB_TIMEOUT_S)

    assert outcomes == {f"{job_id}_{i}": JobOutcome("COMPLETED", 0, 0) for i in range(3)}
    rows = {p.name: p.read_text().split() for p in tmp_path.glob("task_*")}
    assert sorted(rows) == ["task_0", "task_1", "task_2"]
    assert all(name == f"task_{task_id}" for name, (task_id, _, _) in rows.items())
    assert max_overlap([(float(start), float(end)) for _, start, end in rows.values()]) <= 2


def test_task_exiting_3_is_failed_with_exit_code_3_in_sacct(local_slurm, tmp_path):
    job_id = local_slurm.sbatch([f"--output={tmp_path}/slurm-%j.out", "--wrap", "exit 3"])

    outcomes = local_slurm.wait_for_jobs([job_id], timeout_s=JOB_TIMEOUT_S)

    assert outcomes == {job_id: JobOutcome("FAILED", 3, 0)}


def test_scontrol_reports_the_configured_max_array_size(local_slurm):
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, check=True).stdout

    reported = int(re.search(r"^MaxArraySize\s*=\s*(\d+)", config, re.MULTILINE).group(1))

    assert reported == local_slurm.max_array_size
    assert reported == int(os.environ.get("LOCAL_SLURM_MAX_ARRAY_SIZE", reported))


def test_two_task_job_gets_both_fake_gpus(local_slurm, tmp_path):
    assert local_slurm.gpus >= 2, "start the cluster with LOCAL_SLURM_GPUS=2 (the default) or more"
    job_id = local_slurm.sbatch(["--ntasks=2", "--gres=gpu:2", f"--output={tmp_path}/out",
                                 "--wrap", "srun bash -c 'echo $SLURM_PROCID $CUDA_VISIBLE_DEVICES'"])

    outcomes = local_slurm.wait_for_jobs([job_id], timeout_s=JOB_TIMEOUT_S)

    assert outcomes == {job_id: JobOutcome("COMPLETED", 0, 0)}
    assert sorted((tmp_path / "out").read_text().splitlines()) == ["0 0,1", "1 0,1"]
