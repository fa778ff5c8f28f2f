"""scaling_laws/models/memory.py and the transformer's memory_stages: the predicted peak of a training step."""
import pytest
import torch
import torch.nn.functional as F

from experiment_utils import gen_experim
from scaling_laws.models import build_model
from scaling_laws.models.memory import GIB, choose_micro_batch, estimate, precision_on_cuda, usable_bytes
from scaling_laws.models.transformer.counts import memory_stages
from scaling_laws.validate import validate_experiment


def config(width=32, **fields):
    fields = {"num_layers": 2, "seq_length": 64, "vocab_size": 512, "compile": "off", **fields}
    return validate_experiment(gen_experim(width, **fields)[0])


def saved_activation_bytes(cfg, batch: int) -> int:
    """Bytes of the distinct tensors autograd saves for backward in one forward + loss (parameters excluded),
    under the autocast the config asks for, run on the CPU."""
    model = build_model(cfg)
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    tokens = torch.randint(0, cfg.vocab_size, (batch, cfg.seq_length))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.dtype != "float32"):
            logits = model(tokens)
        F.cross_entropy(logits.float().flatten(0, 1), tokens.flatten())
    return sum(saved.values())


def test_model_states_are_16_bytes_per_parameter_of_the_built_model():
    cfg = config()
    numel = sum(p.numel() for p in build_model(cfg).parameters())
    parts = estimate(cfg)
    assert (parts.parameters, parts.gradients, parts.optimizer) == (4 * numel, 4 * numel, 8 * numel)
    assert parts.ddp_buckets == 0 and estimate(cfg, world_size=2).ddp_buckets == 4 * numel


@pytest.mark.parametrize("activation", ["gelu", "relu", "swiglu"])
@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
@pytest.mark.parametrize("tie_embeddings", [True, False])
def test_saved_activations_are_what_autograd_saves(activation, dtype, tie_embeddings):
    """The eager activation rule against the tensors autograd really keeps (the flash-attention CPU kernel
    saves output and logsumexp as the CUDA one does): within 1%. The loss keeps its fp32 log-softmax
    (4 bytes per logit); autocast's 16-bit weight copies are saved too."""
    cfg = config(128, activation=activation, dtype=dtype, tie_embeddings=tie_embeddings)
    batch = 3
    stages = memory_stages(cfg, precision_on_cuda(cfg))
    predicted = batch * (stages.layers_per_sequence + 4 * cfg.seq_length * cfg.vocab_size) + stages.weight_copies
    assert predicted == pytest.approx(saved_activation_bytes(cfg, batch), rel=0.01)


def test_activations_and_logits_grow_with_the_micro_batch_and_vocabulary():
    cfg = config()
    one, four = estimate(cfg, batch_size=1), estimate(cfg, batch_size=4)
    assert four.activations == 4 * one.activations and four.logits == 4 * one.logits
    assert estimate(config(vocab_size=50304)).logits == pytest.approx(estimate(cfg).logits * 50304 / 512)
    assert estimate(config(dtype="float32")).weight_copies == 0 < estimate(cfg).weight_copies
    assert estimate(config(compile="on")).logits < estimate(cfg).logits


def test_accumulation_keeps_the_gradients_alive_during_the_forward_pass():
    cfg = config(seq_length=256, target_effective_batch_size=64)
    single, accumulating = estimate(cfg, 32, 1), estimate(cfg, 32, 2)
    assert single.forward_peak > single.gradients  # activations dominate here
    assert accumulating.peak_allocated - single.peak_allocated == single.gradients
    assert accumulating.device_bytes == accumulating.peak_allocated + accumulating.cuda_context


def test_cuda_graphs_with_one_micro_batch_do_not_hold_the_gradients_during_the_forward_pass():
    """With one micro-batch .grad takes the backward graph's outputs and frees them after the step (core.Trainer),
    as an eager step does; with accumulation the graphs keep them zeroed in place, as accumulation always does."""
    graphs, eager = config(seq_length=256, compile="on"), config(seq_length=256, compile="on", cuda_graphs="off")
    assert not estimate(graphs, 32, 1).gradients_in_forward
    assert estimate(graphs, 32, 1).peak_allocated == estimate(eager, 32, 1).peak_allocated
    assert estimate(graphs, 32, 2).gradients_in_forward


@pytest.mark.parametrize("memory_gb", [0.7, 1.0, 2.0, 8.0, 80.0])
def test_the_chosen_micro_batch_is_the_largest_divisor_that_fits(memory_gb):
    cfg = config(128, num_layers=4, seq_length=512, vocab_size=50304, target_effective_batch_size=96)
    batch, accum = choose_micro_batch(cfg, memory_gb)
    assert batch * accum == 96
    budget = usable_bytes(memory_gb, cfg.target_gpu_memory_usage)
    assert batch == 1 or estimate(cfg, batch, accum).device_bytes <= budget
    larger = [d for d in range(batch + 1, 97) if 96 % d == 0]
    assert all(estimate(cfg, d, 96 // d).device_bytes > budget for d in larger)


def test_a_lower_target_usage_picks_a_smaller_micro_batch():
    cfg = dict(seq_length=1024, vocab_size=50304, target_effective_batch_size=256)
    roomy = validate_experiment(gen_experim(512, **cfg)[0])
    careful = validate_experiment(gen_experim(512, target_gpu_memory_usage=0.4, **cfg)[0])
    assert careful.batch_size < roomy.batch_size
    assert estimate(roomy).device_bytes <= 0.85 * 80 * GIB


def cpu_step_peak_bytes(cfg) -> int:
    """Peak of the bytes the CPU allocator holds during one training step of core.Trainer (its second, so
    that AdamW state exists), from the profiler's allocation events, plus the parameters and AdamW state
    allocated before it."""
    from torch.profiler import ProfilerActivity, profile

    from core import Trainer
    from scaling_laws.training.distributed import DistContext

    trainer = Trainer(cfg, DistContext())
    trainer.train_step(trainer.step_batches(0), 1e-4)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        trainer.train_step(trainer.step_batches(1), 1e-4)
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                    key=lambda e: e.start_ns())
    held = peak = 0
    for event in events:
        held += event.nbytes()
        peak = max(peak, held)
    return peak + 12 * sum(p.numel() for p in trainer.raw_model.parameters())


@pytest.mark.parametrize("fields", [
    dict(dtype="bfloat16", vocab_size=4096),
    dict(dtype="bfloat16", target_effective_batch_size=8, batch_size=4),
    dict(dtype="float32", activation="swiglu"),
])
def test_a_whole_eager_step_peaks_where_predicted(fields):
    """The whole eager step (forward, loss, backward, clipping, AdamW) on the CPU, bf16 autocast or fp32: its
    allocator peak equals the prediction without the CUDA-only cuBLAS workspace, within 1%."""
    cfg = config(128, seq_length=256, **{"target_effective_batch_size": 4, **fields})
    predicted = estimate(cfg)
    assert predicted.peak_allocated - predicted.workspace == pytest.approx(cpu_step_peak_bytes(cfg), rel=0.01)


def test_the_lstm_holds_its_gradients_and_cudnn_buffer_with_its_activations():
    """cuDNN's backward makes the weight gradients last, into a flat buffer besides .grad (docs/memory.md)."""
    from scaling_laws.models.lstm import layer_params
    cfg = validate_experiment(gen_experim(64, architecture="lstm", num_heads=1, seq_length=32, vocab_size=512,
                                          compile="off")[0])
    breakdown = estimate(cfg, 4, 1)
    assert breakdown.gradients_in_forward
    assert breakdown.weight_copies == 4 * cfg.num_layers * layer_params(64) + 2 * 512 * 64  # buffer + bf16 readout
    assert estimate(cfg, 8, 1).activations == 2 * breakdown.activations
    fp32 = estimate(validate_experiment(gen_experim(64, architecture="lstm", num_heads=1, seq_length=32,
                                                    vocab_size=512, compile="off", dtype="float32")[0]), 4, 1)
    assert fp32.weight_copies == 4 * cfg.num_layers * layer_params(64)  # no 16-bit copy in fp32
