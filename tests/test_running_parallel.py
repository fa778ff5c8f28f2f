"""scaling_laws/running/parallel.py: --all --per-gpu K runs experiments side by side, each as a solo run would."""
import os
import subprocess
import sys

from conftest import ROOT, rows_without_timing
from scaling_laws.results_layout import run_paths_for
from scaling_laws.running.parallel import Slot, slots_for

FAST = ["max_tokens_training=2560"]  # SMOKE: 6 runs of 10 steps


def run_smoke(results, *args) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"}, "SCALING_RESULTS_DIR": str(results)}
    return subprocess.run([sys.executable, str(ROOT / "experiments.py"), "SMOKE", "--all", *FAST, *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


def test_packed_runs_equal_solo_runs(tmp_path):
    packed, solo = run_smoke(tmp_path / "packed", "--per-gpu", "3"), run_smoke(tmp_path / "solo")
    assert packed.returncode == 0 and solo.returncode == 0, packed.stderr + solo.stderr
    assert "6 experiments in 3 slots (3 per CPU)" in packed.stdout
    for width in (8, 12, 16, 20, 24, 32):
        one, other = (run_paths_for("SMOKE", f"d{width}", root) for root in (tmp_path / "packed", tmp_path / "solo"))
        assert one.done_marker.exists() and rows_without_timing(one.csv) == rows_without_timing(other.csv)


def test_slots_cover_every_gpu_or_the_cpu():
    assert slots_for(2, 2) == [Slot(0, 0), Slot(0, 1), Slot(1, 0), Slot(1, 1)]
    assert slots_for(0, 3) == [Slot(None, 0), Slot(None, 1), Slot(None, 2)]
    assert Slot(1, 0).env(2)["CUDA_VISIBLE_DEVICES"] == "1" and Slot(None, 0).env(2)["SCALING_CPU_THREADS"] == "2"
