"""scaling_laws/training/memory_fit.py: the micro-batch sized for the real device, and the OOM fallback."""
import json
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, rows_without_timing
from core import Trainer, train
from experiment_utils import gen_experim, with_overrides
from scaling_laws.results_layout import read_json, run_paths
from scaling_laws.running.identity import identity_hash
from scaling_laws.training.distributed import DistContext
from scaling_laws.training.memory_fit import resize_micro_batch, smaller_micro_batch, split_step, \
    step_fitting_memory
from scaling_laws.validate import validate_experiment


def sized(**fields):
    fields = {"seq_length": 1024, "vocab_size": 50304, "target_effective_batch_size": 256, **fields}
    return validate_experiment(gen_experim(512, **fields)[0])


def test_a_device_with_less_memory_gets_a_smaller_micro_batch_and_the_same_effective_batch():
    cfg = sized()
    smaller = resize_micro_batch(cfg, 16.0)
    larger = resize_micro_batch(sized(gpu_memory_gb=16.0), 80.0)
    assert smaller.batch_size < cfg.batch_size and larger.batch_size > smaller.batch_size
    for resized in (smaller, larger):
        assert resized.batch_size * resized.gradient_accumulation_steps == cfg.target_effective_batch_size
    assert identity_hash(smaller.to_dict()) == identity_hash(cfg.to_dict())  # resuming under it is the same run
    assert resize_micro_batch(cfg, 80.0) is cfg and resize_micro_batch(cfg, None) is cfg


def test_a_micro_batch_the_user_set_is_kept_on_any_device():
    fixed = sized(batch_size=4)
    assert fixed.micro_batch_fixed and resize_micro_batch(fixed, 16.0) is fixed
    assert sized(gradient_accumulation_steps=64).micro_batch_fixed
    assert not sized().micro_batch_fixed
    assert with_overrides(sized().to_dict(), batch_size=8, gradient_accumulation_steps=32)["micro_batch_fixed"]
    assert not with_overrides(sized().to_dict(), learning_rate=3e-3)["micro_batch_fixed"]


def test_impossible_combinations_fail_at_definition_time():
    with pytest.raises(Exception, match=r"batch_size=256 .* more than gpu_memory_gb=16; set a smaller batch_size"):
        sized(batch_size=256, gpu_memory_gb=16.0)
    with pytest.raises(Exception, match=r"target_gpu_memory_usage=1.5 must be in \(0, 1\]"):
        sized(target_gpu_memory_usage=1.5)


def test_the_fallback_halves_the_micro_batch_down_to_one_sequence():
    cfg = validate_experiment(gen_experim(16, target_effective_batch_size=12)[0])
    chain = [cfg]
    while (nxt := smaller_micro_batch(chain[-1])) is not None:
        chain.append(nxt)
    assert [(c.batch_size, c.gradient_accumulation_steps) for c in chain][-3:] == [(6, 2), (3, 4), (1, 12)]


def test_a_step_split_anew_holds_the_same_sequences_in_order():
    batches = [(torch.arange(i * 8, i * 8 + 8).view(4, 2), torch.arange(i * 8, i * 8 + 8).view(4, 2)) for i in range(2)]
    again = split_step(batches, 2)
    assert len(again) == 4 and torch.equal(torch.cat([x for x, _ in again]), torch.cat([x for x, _ in batches]))


class OutOfMemoryAbove:
    """A forward pre-hook raising torch.OutOfMemoryError (what the CUDA allocator raises) for micro-batches
    larger than ``limit``: a device that fits ``limit`` sequences."""

    def __init__(self, limit):
        self.limit, self.raised = limit, 0

    def __call__(self, module, args):
        if args[0].shape[0] > self.limit:
            self.raised += 1
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate for {args[0].shape[0]} sequences")


def test_an_out_of_memory_step_is_retried_smaller_and_trains_as_the_smaller_micro_batch_would(tiny_fields):
    fields = {**tiny_fields, "target_effective_batch_size": 8}
    width = fields.pop("hidden_dim")
    big = validate_experiment(gen_experim(width, batch_size=8, **fields)[0])
    small = validate_experiment(gen_experim(width, batch_size=2, **fields)[0])
    falling, steady = Trainer(big, DistContext()), Trainer(small, DistContext())
    hook = OutOfMemoryAbove(2)
    falling.raw_model.register_forward_pre_hook(hook)
    changes = []
    for step in range(3):
        lr = 1e-3
        loss_a, _ = step_fitting_memory(falling, falling.step_batches(step), lr, step, changes.append)
        loss_b, _ = step_fitting_memory(steady, steady.step_batches(step), lr, step)
        assert float(loss_a) == pytest.approx(float(loss_b), rel=1e-5)
    assert hook.raised == 2 and [c["to"] for c in changes] == [[4, 2], [2, 4]]
    assert (falling.cfg.batch_size, falling.cfg.gradient_accumulation_steps) == (2, 4)
    for a, b in zip(falling.raw_model.parameters(), steady.raw_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_one_sequence_that_does_not_fit_still_fails(tiny_fields):
    fields = dict(tiny_fields)
    trainer = Trainer(validate_experiment(gen_experim(fields.pop("hidden_dim"), batch_size=2, **fields)[0]),
                      DistContext())
    trainer.raw_model.register_forward_pre_hook(OutOfMemoryAbove(0))
    with pytest.raises(torch.OutOfMemoryError):
        step_fitting_memory(trainer, trainer.step_batches(0), 1e-3, 0)


# A run under a real allocation limit: the address space this process may still map (RLIMIT_AS) is
# set a little above what it holds, so a micro-batch of 64 cannot allocate its activations on the
# CPU and torch's allocator fails; the run must fall back, finish, and record what it did.
LIMITED_RUN = """
import json, resource, sys
import torch
from core import train
from experiment_utils import gen_experim
from scaling_laws.results_layout import run_paths
from scaling_laws.validate import validate_experiment
def config(label, **fields):
    return validate_experiment(gen_experim(64, num_layers=2, seq_length=512, target_effective_batch_size=64,
        max_tokens_training=3 * 64 * 512, eval_interval=1000, eval_sequences=4, label=label, folder_name="oom",
        **fields)[0])
warm = config("warm", batch_size=4)
train(warm, run_paths(warm))  # loads the data and the code paths a run maps, before the limit
vm = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmSize"))
resource.setrlimit(resource.RLIMIT_AS, (vm + 300 * 2**20, resource.RLIM_INFINITY))
try:
    torch.empty(2**30, dtype=torch.uint8)  # 1 GiB: the limit is real
    sys.exit("the limit did not hold")
except RuntimeError:
    pass
cfg = config("limited", batch_size=64)
print(json.dumps(train(cfg, run_paths(cfg))))
"""


def test_a_run_under_a_real_allocation_limit_falls_back_and_matches_an_unlimited_run(results_dir):
    done = subprocess.run([sys.executable, "-c", LIMITED_RUN], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["status"] == "complete"
    assert "out of memory at step 1 with micro-batch 64 x 1" in done.stderr
    limited = validate_experiment(gen_experim(64, num_layers=2, seq_length=512, target_effective_batch_size=64,
                                              max_tokens_training=3 * 64 * 512, eval_interval=1000,
                                              eval_sequences=4, label="limited", folder_name="oom",
                                              batch_size=64)[0])
    memory = read_json(run_paths(limited).config_json)["memory"]
    assert memory["oom_fallbacks"] and memory["batch_size"] < 64
    assert memory["batch_size"] * memory["gradient_accumulation_steps"] == 64
    recorded = read_json(run_paths(limited).config_json)["config"]
    assert recorded["batch_size"] == memory["batch_size"]
    unlimited = validate_experiment({**limited.to_dict(), "label": "unlimited"})
    train(unlimited, run_paths(unlimited))
    got, want = rows_without_timing(run_paths(limited).csv), rows_without_timing(run_paths(unlimited).csv)
    assert [r["tokens_processed"] for r in got] == [r["tokens_processed"] for r in want]
    for a, b in zip(got, want):
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-4)
