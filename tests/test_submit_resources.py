"""scaling_laws/submit/resources.py: one submission vocabulary for submit_job.sh and experiments.py --submit."""
import pytest

from experiments import parse_args as experiments_args
from scaling_laws.submit.resources import Resources, mem_gb, time_minutes
from scaling_laws.submit.sbatch import parse_args as submit_job_args

OPTIONS = ["-7", "-c", "3", "--partition", "gpu", "--time", "1-02:30", "--gpus", "a100:2", "--cpus", "8", "--mem", "64G",
           "--grace-s", "300", "--rerun", "failed"]


def test_both_command_lines_read_the_same_resources():
    from_submit_job = submit_job_args(["SMOKE", *OPTIONS])
    from_experiments = experiments_args(["SMOKE", "--submit", *OPTIONS])
    assert Resources.from_args(from_submit_job) == Resources.from_args(from_experiments) == \
        Resources("gpu", "1-02:30", "a100:2", 8, "64G", 3, 300)
    assert from_submit_job.rerun == from_experiments.rerun == "failed"
    assert from_submit_job.tasks == from_experiments.tasks == 7  # the original's -N: 7 array tasks


def test_a_bare_rerun_means_all_and_leaves_the_next_word_alone():
    args = experiments_args(["SMOKE", "--index", "1", "--rerun", "max_tokens_training=2560"])
    assert args.rerun == "all" and args.overrides == ["max_tokens_training=2560"]


@pytest.mark.parametrize("text, minutes", [("60", 60), ("90:30", 91), ("4:00:00", 240), ("1-00", 1440),
                                           ("1-2:30", 1590), ("0:30", 1)])
def test_slurm_times_convert_to_whole_minutes_for_submitit(text, minutes):
    assert time_minutes(text) == minutes


def test_slurm_memory_converts_to_gb():
    assert (mem_gb("16G"), mem_gb("512"), mem_gb("1T")) == (16, 0.5, 1024)
    assert Resources(gpus="a100:2").gpu_count == 2 and Resources().gpu_count == 0


def test_default_resources_come_from_the_runs_architecture():
    assert Resources().for_runs(["transformer"]) == Resources(gpus="1", cpus=4, mem="16G")
    assert Resources().for_runs(["transformer", "lstm"]) == Resources(gpus="2", cpus=8, mem="32G")  # LSTM: DDP on 2
    assert Resources(gpus="0").for_runs(["lstm"]) == Resources(gpus="0", cpus=1, mem=None)
    assert Resources(gpus="a100:4", cpus=2, mem="8G").for_runs(["transformer"]) == \
        Resources(gpus="a100:4", cpus=2, mem="8G")
