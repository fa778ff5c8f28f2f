"""training/cpu_threads.py: threads from the cores this process may use, fewer on a loaded node, halved on request."""
import logging

import pytest
import torch

from experiment_utils import gen_experim
from scaling_laws.training import cpu_threads
from scaling_laws.training.cpu_threads import plan_threads
from scaling_laws.validate import validate_experiment


def test_an_idle_node_gives_every_allowed_core():
    plan = plan_threads(None, None, allowed=8, logical_cpus=16, load=0.5)
    assert plan.threads == 8 and "8 cores allowed" in plan.reason


def test_a_loaded_node_gives_only_its_idle_cores():
    plan = plan_threads(None, None, allowed=8, logical_cpus=16, load=13.0)
    assert plan.threads == 3 and "node loaded (13.0 on 16 CPUs)" in plan.reason
    assert plan_threads(None, None, allowed=8, logical_cpus=16, load=40.0).threads == 1  # never zero


def test_slurm_and_the_environment_win_over_the_load():
    assert plan_threads(None, "6", allowed=8, logical_cpus=16, load=15.0).threads == 6  # the allocation is ours
    assert plan_threads("3", "6", allowed=8, logical_cpus=16, load=0.0).threads == 3


@pytest.mark.parametrize("env, slurm, load, expected", [(None, None, 0.0, 4), (None, "6", 0.0, 3), ("1", None, 0.0, 1),
                                                        (None, None, 13.0, 1)])
def test_force_conservative_cpu_halves_what_the_rule_takes(env, slurm, load, expected):
    plan = plan_threads(env, slurm, allowed=8, logical_cpus=16, load=load, conservative=True)
    assert plan.threads == expected and plan.reason.startswith("force_conservative_cpu: half of")


def test_a_cpu_run_sets_and_logs_its_threads(tiny_fields, monkeypatch, caplog):
    """select_device on the CPU applies the config's force_conservative_cpu and says why in the log."""
    from scaling_laws.training.device import select_device
    from scaling_laws.training.distributed import DistContext
    monkeypatch.setenv(cpu_threads.THREADS_ENV, "2")
    fields = {k: v for k, v in tiny_fields.items() if k != "hidden_dim"}
    cfg = validate_experiment(gen_experim(tiny_fields["hidden_dim"], folder_name="cpu", device="cpu",
                                          force_conservative_cpu=True, **fields)[0])
    before = torch.get_num_threads()
    try:
        with caplog.at_level(logging.INFO, logger="scaling"):
            assert select_device(cfg, DistContext()).type == "cpu"
        assert torch.get_num_threads() == 1
        assert "CPU: 1 intra-op thread(s): force_conservative_cpu: half of 2 ($SCALING_CPU_THREADS=2)" in caplog.text
    finally:
        torch.set_num_threads(before)
