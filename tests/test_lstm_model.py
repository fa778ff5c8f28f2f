"""The LSTM family: gen_lstm_experim's contract, the width rule, and training through core.train."""
import pytest
import torch

from core import train
from experiment_utils import gen_experim
from lstm_model import gen_lstm_experim, lstm_width_for
from scaling_laws.config import ConfigError
from scaling_laws.models import build_model, param_counts
from scaling_laws.results_layout import read_json, read_metrics_rows, run_paths
from scaling_laws.validate import validate_experiment

TINY_LSTM = dict(seq_length=32, target_effective_batch_size=8, max_tokens_training=8 * 32 * 30, eval_interval=10,
                 eval_sequences=16, learning_rate=1e-2, warmup_fraction=0.1)


def test_gen_lstm_experim_is_a_validated_lstm_with_two_ranks_and_the_global_batch():
    exp, = gen_lstm_experim(64, folder_name="lstm", **TINY_LSTM)
    assert (exp["architecture"], exp["label"], exp["num_layers"], exp["world_size"]) == ("lstm", "lstm64", 2, 2)
    assert exp["batch_size"] * exp["gradient_accumulation_steps"] * exp["world_size"] == 8
    assert gen_lstm_experim(64, folder_name="lstm", **TINY_LSTM) == [exp]  # pure
    cfg = validate_experiment(exp)
    assert param_counts(cfg).total == sum(p.numel() for p in build_model(cfg).parameters())
    assert exp["max_tokens_training"] == 8 * 32 * 30
    assert gen_lstm_experim(64)[0]["max_tokens_training"] == round(20 * param_counts(
        validate_experiment(gen_lstm_experim(64)[0])).total)


def test_gen_lstm_experim_refuses_what_an_lstm_cannot_be():
    with pytest.raises(ConfigError, match="gen_lstm_experim builds LSTMs only"):
        gen_lstm_experim(64, architecture="transformer")
    with pytest.raises(ConfigError, match="activation='swiglu' does not apply to architecture='lstm'"):
        gen_lstm_experim(64, activation="swiglu")
    with pytest.raises(ConfigError, match="world_size=3 does not divide target_effective_batch_size=32"):
        gen_lstm_experim(64, world_size=3)


@pytest.mark.parametrize("transformer_width", [128, 256, 512, 1024])
def test_lstm_width_for_matches_a_transformers_non_embedding_count(transformer_width):
    target = param_counts(validate_experiment(gen_experim(transformer_width)[0])).non_embedding
    width = lstm_width_for(target)
    gap = {d: abs(param_counts(validate_experiment(gen_lstm_experim(d)[0])).non_embedding - target)
           for d in (width - 8, width, width + 8)}
    assert width % 8 == 0 and gap[width] == min(gap.values())  # the nearest multiple of 8
    assert gap[width] / target < 0.06  # a step of 8 in width moves N by 2 x 8 / d: 10% at d = 160
    assert lstm_width_for(25_183_232) == 1256  # the transformer d512 (8 layers) of docs/lstm.md


def test_lstm_trains_through_the_one_loop_and_loss_falls(results_dir):
    cfg = validate_experiment(gen_lstm_experim(32, folder_name="lstm", world_size=1, **TINY_LSTM)[0])
    summary = train(cfg, run_paths(cfg))
    rows = read_metrics_rows(run_paths(cfg).csv)
    assert summary["status"] == "complete" and len(rows) == 30
    assert float(rows[-1]["val_loss"]) < float(rows[9]["val_loss"]) < 5.0  # below uniform over 256 bytes: 5.55
    assert read_json(run_paths(cfg).config_json)["config"]["architecture"] == "lstm"


def test_lstm_starts_every_window_from_a_zero_state():
    cfg = validate_experiment(gen_lstm_experim(16, world_size=1, **TINY_LSTM)[0])
    model = build_model(cfg).eval()
    tokens = torch.randint(0, 256, (2, 12))
    together = model(tokens)
    assert torch.allclose(together[1], model(tokens[1:])[0], atol=1e-6)  # row 1 does not see row 0's state
    assert torch.allclose(together[:, :5], model(tokens[:, :5]), atol=1e-6)  # causal: later tokens change nothing


def test_the_recurrence_runs_in_fp32_inside_autocast():
    """Under CUDA autocast cuDNN would run the LSTM in fp16 with no gradient scaler; ours stays fp32 (checked
    here under the CPU's bf16 autocast, which the same guard switches off)."""
    cfg = validate_experiment(gen_lstm_experim(16, world_size=1, **TINY_LSTM)[0])
    model = build_model(cfg)
    seen = []
    model.lstm.register_forward_hook(lambda module, args, out: seen.append((args[0].dtype, out[0].dtype)))
    tokens = torch.randint(0, 256, (2, 12))
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        logits = model(tokens)
    assert seen == [(torch.float32, torch.float32)]
    plain = model(tokens)
    assert torch.allclose(logits.float(), plain, atol=0.1)  # the readout may still run in bf16
