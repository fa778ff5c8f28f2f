import csv
import math

import pytest
from conftest import rows_without_timing

from scaling_laws.validate import validate_experiment
from core import train
from scaling_laws.training.optim import get_lr, total_optimizer_steps
from experiment_utils import gen_experim
from scaling_laws.models import param_counts
from scaling_laws.results_layout import CSV_COLUMNS, read_json, read_metrics_rows, run_paths, run_paths_for

def tiny_config(tiny_fields, **changes):
    fields = {**tiny_fields, **changes}
    return validate_experiment(gen_experim(fields.pop("hidden_dim"), folder_name="t", **fields)[0])


def run(cfg, **kwargs):
    paths = run_paths(cfg)
    return train(cfg, paths, **kwargs), paths


def test_lr_warms_up_linearly_then_decays_to_the_floor(tiny_fields):
    cfg = tiny_config(tiny_fields, learning_rate=1.0, warmup_fraction=0.1, min_lr_ratio=0.1)
    lrs = [get_lr(step, cfg, 100) for step in range(100)]
    assert lrs[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[-1] == pytest.approx(0.1, abs=1e-3)
    constant = tiny_config(tiny_fields, learning_rate=1.0, lr_schedule="constant", warmup_fraction=0.0)
    assert {get_lr(step, constant, 50) for step in range(50)} == {1.0}


def test_tiny_run_writes_the_results_contract_and_learns(tiny_fields):
    cfg = tiny_config(tiny_fields)
    summary, paths = run(cfg)
    with open(paths.csv) as handle:
        assert tuple(next(csv.reader(handle))) == CSV_COLUMNS
    rows = read_metrics_rows(paths.csv)
    steps = total_optimizer_steps(cfg)
    assert [int(r["optimizer_step"]) for r in rows] == list(range(1, steps + 1))
    val = [float(r["val_loss"]) for r in rows if r["val_loss"]]
    assert len(val) == math.ceil(steps / cfg.eval_interval)
    assert val[-1] < val[0] - 0.5, f"validation loss did not fall: {val}"
    total = param_counts(cfg).total
    for row in rows:
        tokens = int(row["optimizer_step"]) * cfg.batch_size * cfg.gradient_accumulation_steps * cfg.seq_length
        assert int(row["tokens_processed"]) == tokens
        assert float(row["theoretical_flops_chinchilla"]) == pytest.approx(6 * total * tokens, rel=1e-6)
        attention = 12 * cfg.num_layers * cfg.hidden_dim * cfg.seq_length  # per token, on top of 6N (PaLM app. B)
        position = cfg.seq_length * cfg.hidden_dim
        assert float(row["flops_with_attention"]) == pytest.approx((6 * (total - position) + attention) * tokens,
                                                                   rel=1e-6)
    meta = read_json(paths.config_json)
    assert meta["config"] == cfg.to_dict() and meta["total_params"] == total
    assert len(meta["dataset"]["sha256"]) == 64 and meta["world_size"] == 1
    assert read_json(paths.done_marker) == summary and summary["status"] == "complete"
    assert summary["tokens_processed"] >= cfg.max_tokens_training
    assert not paths.checkpoint.exists()


def test_micro_batch_split_does_not_change_training(tiny_fields):
    """Gradient accumulation with correct loss scaling: 8x1, 4x2 and 2x4 train the same model."""
    losses = []
    for batch_size, accum in ((8, 1), (4, 2), (2, 4)):
        cfg = tiny_config(tiny_fields, label=f"b{batch_size}", batch_size=batch_size,
                          gradient_accumulation_steps=accum, max_tokens_training=8 * 32 * 12)
        _, paths = run(cfg)
        losses.append([float(r["loss"]) for r in read_metrics_rows(paths.csv)])
    assert losses[1] == pytest.approx(losses[0], abs=2e-4)
    assert losses[2] == pytest.approx(losses[0], abs=2e-4)


@pytest.mark.parametrize("stop_at", [7, 12])  # 12: just after a window (steps 1-10) written behind step 11
def test_resume_matches_an_uninterrupted_run(tiny_fields, stop_at):
    cfg = tiny_config(tiny_fields, label="whole")
    _, whole = run(cfg)
    assert total_optimizer_steps(cfg) > stop_at + 1
    resumed_cfg = tiny_config(tiny_fields, label="resumed")
    calls = {"n": 0}

    def stop_after_some_steps():
        calls["n"] += 1
        return calls["n"] >= stop_at

    summary, paths = run(resumed_cfg, stop_requested=stop_after_some_steps)
    assert summary["status"] == "interrupted" and summary["optimizer_steps"] == stop_at
    assert paths.checkpoint.exists() and not paths.done_marker.exists()
    assert len(read_metrics_rows(paths.csv)) == stop_at
    with open(paths.csv, "a") as handle:  # a row written after the checkpoint, e.g. by a killed run
        handle.write(f"{stop_at + 1},1,1,,1,1,1,1,,1\n")
    summary, paths = run(resumed_cfg)
    assert summary["status"] == "complete"
    assert rows_without_timing(paths.csv) == rows_without_timing(whole.csv)


def test_divergence_is_recorded_and_stops_the_run(tiny_fields):
    cfg = tiny_config(tiny_fields, learning_rate=1e6, grad_clip=0.0, warmup_fraction=0.0)
    summary, paths = run(cfg)
    assert summary["status"] == "diverged"
    assert summary["optimizer_steps"] < total_optimizer_steps(cfg)
    assert read_json(paths.done_marker)["status"] == "diverged"
    # Seen one step late when its window was read back behind the next step, yet the rows stop at it.
    losses = [float(row["loss"]) for row in read_metrics_rows(paths.csv)]
    assert not math.isfinite(losses[-1]) and all(math.isfinite(loss) for loss in losses[:-1])
    assert len(losses) == summary["optimizer_steps"]


def test_cuda_graphs_only_where_a_replay_is_safe(tiny_fields):
    """auto: compiled single-process CUDA runs without dropout; never on CPU or uncompiled; 'on' forces it."""
    import torch

    from scaling_laws.training.device import uses_cuda_graphs

    cuda, cpu = torch.device("cuda", 0), torch.device("cpu")
    plain = tiny_config(tiny_fields)
    assert uses_cuda_graphs(plain, cuda, world_size=1, compiled=True)
    assert not uses_cuda_graphs(plain, cuda, world_size=2, compiled=True)  # DDP hooks run between graphs
    assert not uses_cuda_graphs(plain, cuda, world_size=1, compiled=False)
    assert not uses_cuda_graphs(plain, cpu, world_size=1, compiled=True)
    assert not uses_cuda_graphs(tiny_config(tiny_fields, residual_dropout=0.1), cuda, world_size=1, compiled=True)
    assert uses_cuda_graphs(tiny_config(tiny_fields, residual_dropout=0.1, cuda_graphs="on"), cuda, 2, True)
    assert not uses_cuda_graphs(tiny_config(tiny_fields, cuda_graphs="off"), cuda, world_size=1, compiled=True)


def test_cuda_graphs_on_without_compile_is_refused(tiny_fields):
    from scaling_laws.config import ConfigError

    with pytest.raises(ConfigError, match="cuda_graphs='on'.*compile"):
        tiny_config(tiny_fields, cuda_graphs="on", compile="off")
    with pytest.raises(ConfigError, match="cuda_graphs='sometimes' is not allowed"):
        tiny_config(tiny_fields, cuda_graphs="sometimes")
