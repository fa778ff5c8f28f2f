"""scaling_laws/running/parallel.py: --all --per-gpu K runs experiments side by side, each as a solo run would."""
import os
import subprocess
import sys

from conftest import ROOT, rows_without_timing
from scaling_laws.results_layout import run_paths_for
from scaling_laws.running.parallel import Slot, slots_for

DEFINITIONS = """
from experiment_definitions import study
from experiment_utils import gen_experim

@study("PACKED")
def packed():
    return sum((gen_experim(d, folder_name="PACKED", num_layers=1, seq_length=32, target_effective_batch_size=8,
                            max_tokens_training=8 * 32 * 12, eval_interval=6, eval_sequences=8) for d in (8, 12, 16)), [])
"""


def run_study(results, definitions, *args) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"}, "SCALING_RESULTS_DIR": str(results)}
    return subprocess.run([sys.executable, str(ROOT / "experiments.py"), "PACKED", "--all", "--definitions",
                           str(definitions), *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


def test_packed_runs_equal_solo_runs(tmp_path):
    definitions = tmp_path / "defs.py"
    definitions.write_text(DEFINITIONS)
    packed = run_study(tmp_path / "packed", definitions, "--per-gpu", "3")
    solo = run_study(tmp_path / "solo", definitions)
    assert packed.returncode == 0 and solo.returncode == 0, packed.stderr + solo.stderr
    assert "3 experiments in 3 slots (3 per CPU)" in packed.stdout
    for width in (8, 12, 16):
        one, other = (run_paths_for("PACKED", f"d{width}", root) for root in (tmp_path / "packed", tmp_path / "solo"))
        assert one.done_marker.exists() and rows_without_timing(one.csv) == rows_without_timing(other.csv)


def test_slots_cover_every_gpu_or_the_cpu():
    assert slots_for(2, 2) == [Slot(0, 0), Slot(0, 1), Slot(1, 0), Slot(1, 1)]
    assert slots_for(0, 3) == [Slot(None, 0), Slot(None, 1), Slot(None, 2)]
    assert Slot(1, 0).env(2)["CUDA_VISIBLE_DEVICES"] == "1" and Slot(None, 0).env(2)["SCALING_CPU_THREADS"] == "2"
