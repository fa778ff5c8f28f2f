"""submit_lstm_job.sh against the real local Slurm: every array task trains its LSTM on 2 srun ranks (gloo on
the CPU: --gpus 0, since the local Slurm's GPUs are fake; everything else is the production path), and a
time-limit warning mid-run checkpoints, requeues once and resumes to the uninterrupted CSV."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import rows_without_timing

from core import train
from scaling_laws.results_layout import read_json, read_metrics_rows, run_paths_for
from scaling_laws.studies.loader import load_study
from scaling_laws.submit.resources import Resources
from scaling_laws.submit.sbatch import render_script
from scaling_laws.training.distributed import DistContext
from slurm_fixtures import JobOutcome, local_slurm  # noqa: F401  (local_slurm is the fixture)
from test_submit_sbatch import WAIT_S, queue_state, release, scancel, wait_until

REPO = Path(__file__).resolve().parents[1]
DEFINITIONS = '''
from experiment_definitions import study
from lstm_model import gen_lstm_experim


@study("LSTM_PAIR")
def lstm_pair():  # two identical LSTM runs on 2 ranks each: "signalled" gets USR1 mid-run, "straight" does not
    return sum((gen_lstm_experim(16, label=label, folder_name="LSTM_PAIR", seq_length=32, target_effective_batch_size=8,
                                 max_tokens_training=8 * 32 * 400, eval_interval=100, eval_sequences=16)
                for label in ("signalled", "straight")), [])
'''


def test_ranks_give_each_array_task_that_many_slurm_tasks_on_one_node_sharing_its_cpus():
    def script(**resources):
        return render_script("S", Path("/r/S/.manifests/m.json"), "S", Resources(**resources), Path("/r"), "python")
    two = script(gpus="2", cpus=8, ranks=2)
    assert "#SBATCH --ntasks=2\n#SBATCH --cpus-per-task=4\n" in two
    assert "#SBATCH --nodes=1\n" in two and "#SBATCH --ntasks-per-node=2\n" in two and "--gres=gpu:2" in two
    one = script(gpus="1", cpus=4)
    assert "#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=4\n" in one and "--nodes" not in one
    dry = subprocess.run(["bash", str(REPO / "submit_lstm_job.sh"), "SMOKE", "--dry-run"], capture_output=True,
                         text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr
    assert "#SBATCH --ntasks=2" in dry.stdout and "#SBATCH --gres=gpu:2" in dry.stdout


def test_submit_lstm_job_trains_each_task_on_two_srun_ranks_and_resumes_after_usr1(local_slurm, tmp_path, monkeypatch):
    definitions = tmp_path / "studies.py"
    definitions.write_text(DEFINITIONS)
    results = tmp_path / "results"
    env = {**os.environ, "SCALING_RESULTS_DIR": str(results), "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(REPO / "submit_lstm_job.sh"), "-2", "LSTM_PAIR", "--gpus", "0",
                           "--definitions", str(definitions)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job, = re.search(r"^job ids: (.*)$", proc.stdout, re.MULTILINE).group(1).split()
    script = next((results / "LSTM_PAIR" / ".manifests").glob("*.sbatch")).read_text()
    assert "#SBATCH --ntasks=2" in script and "#SBATCH --ntasks-per-node=2" in script and "--gres" not in script

    signalled, straight = (run_paths_for("LSTM_PAIR", label, root=results) for label in ("signalled", "straight"))
    wait_until(lambda: len(read_metrics_rows(signalled.csv)) >= 20, WAIT_S, "task 0 never wrote 20 rows")
    scancel("--signal=USR1", "--batch", f"{job}_0")
    wait_until(lambda: queue_state(f"{job}_0") == "PENDING BeginTime", 60, "task 0 was not requeued")
    release(f"{job}_0")
    outcomes = local_slurm.wait_for_jobs([job], timeout_s=WAIT_S)

    assert outcomes == {f"{job}_0": JobOutcome("COMPLETED", 0, 0), f"{job}_1": JobOutcome("COMPLETED", 0, 0)}
    for paths in (signalled, straight):
        assert read_json(paths.config_json)["world_size"] == 2  # both ranks trained it
        assert "starting 2 ranks: srun --ntasks=2" in paths.log.read_text()
    log = signalled.log.read_text()
    assert "stopped by SIGUSR1" in log and f"requeueing Slurm task {job}_0" in log and "resumed from step " in log
    assert [int(row["optimizer_step"]) for row in read_metrics_rows(signalled.csv)] == list(range(1, 401))
    assert rows_without_timing(signalled.csv) == rows_without_timing(straight.csv)

    # The same run on one process (accumulating both ranks' micro-batches) gives the same losses.
    monkeypatch.setenv("SCALING_RESULTS_DIR", str(tmp_path / "one_rank"))
    cfg = load_study("LSTM_PAIR", [], str(definitions))[1]
    train(cfg, run_paths_for("LSTM_PAIR", "straight", root=tmp_path / "one_rank"), DistContext())
    one_rank = read_metrics_rows(run_paths_for("LSTM_PAIR", "straight", root=tmp_path / "one_rank").csv)
    assert [float(r["loss"]) for r in read_metrics_rows(straight.csv)] == \
        pytest.approx([float(r["loss"]) for r in one_rank], rel=1e-5)
