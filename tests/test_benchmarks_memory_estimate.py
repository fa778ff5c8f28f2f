"""benchmarks/memory_estimate.py: its configs cover what the issue asks to measure, and fit the GPU it runs on."""
import importlib.util

from conftest import ROOT
from scaling_laws.models.memory import GIB, estimate

spec = importlib.util.spec_from_file_location("memory_estimate", ROOT / "benchmarks" / "memory_estimate.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
H200_GIB = 139.8


def configs():
    return [bench.experiment(label, overrides) for label, overrides in bench.CONFIGS]


def test_the_configs_cover_every_axis_the_issue_names():
    cfgs = configs()
    assert len(cfgs) >= 20
    assert len({c.hidden_dim for c in cfgs}) >= 4 and len({c.num_layers for c in cfgs}) >= 4
    assert len({c.seq_length for c in cfgs}) >= 3 and len({c.batch_size for c in cfgs}) >= 4
    assert {c.gradient_accumulation_steps for c in cfgs} == {1, 2}
    assert {c.dtype for c in cfgs} >= {"auto", "float32"} and {c.compile for c in cfgs} == {"on", "off"}
    assert {c.vocab_size for c in cfgs} == {256, 50304}
    assert {c.activation for c in cfgs} == {"gelu", "relu", "swiglu"} and {c.tie_embeddings for c in cfgs} == {True, False}
    assert {c.architecture for c in cfgs} == {"transformer", "lstm"} and {c.cuda_graphs for c in cfgs} == {"auto", "off"}
    assert all(c.micro_batch_fixed for c in cfgs)  # the run uses exactly the micro-batch of the row


def test_every_config_fits_the_h200_and_the_forced_one_does_not():
    assert max(estimate(c).device_bytes for c in configs()) < 0.8 * H200_GIB * GIB
    forced = bench.experiment("forced_oom", bench.TOO_LARGE)
    assert estimate(forced).device_bytes > H200_GIB * GIB
    assert estimate(forced, batch_size=forced.batch_size // 4).device_bytes < 0.8 * H200_GIB * GIB
