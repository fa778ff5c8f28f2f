import itertools

import pytest
import torch

from experiment_utils import (create_multi_lr_experiments, create_multi_seed_experiments, default_num_heads,
                              gen_experim, with_overrides)
from scaling_laws.config import ConfigError
from scaling_laws.models import ARCHITECTURES, build_model, param_counts
from scaling_laws.validate import validate_experiment


@pytest.mark.parametrize("width", [16, 48, 64, 96, 160, 200, 256, 768])
def test_batch_times_accumulation_is_exactly_the_target(width):
    for target in (1, 12, 32, 96, 512):
        for memory in (0.01, 1.0, 80.0):
            try:
                exp = gen_experim(width, target_effective_batch_size=target, gpu_memory_gb=memory,
                                  seq_length=256)[0]
            except ConfigError as error:  # not even one sequence fits: refused, never sized
                assert f"more than gpu_memory_gb={memory:g}" in str(error) and memory < 80
                continue
            assert exp["batch_size"] * exp["gradient_accumulation_steps"] == target


def test_a_model_that_cannot_fit_the_device_is_refused():
    with pytest.raises(ConfigError, match=r"hidden_dim=1048576 .* more than gpu_memory_gb=80; use a smaller model"):
        gen_experim(2**20)


def test_less_memory_means_smaller_micro_batch():
    big = gen_experim(1024, target_effective_batch_size=256, seq_length=2048, gpu_memory_gb=80.0)[0]
    small = gen_experim(1024, target_effective_batch_size=256, seq_length=2048, gpu_memory_gb=16.0)[0]
    assert small["batch_size"] < big["batch_size"]
    assert small["gradient_accumulation_steps"] > big["gradient_accumulation_steps"]


def every_buildable_variant():
    """(architecture, overrides) for every combination of every registered family's options, at two widths."""
    for name, arch in ARCHITECTURES.items():
        for values in itertools.product(*arch.options.values()):
            for width in (16, 48):
                yield name, {"architecture": name, "hidden_dim": width, **dict(zip(arch.options, values))}


@pytest.mark.parametrize("name, fields", list(every_buildable_variant()))
def test_analytic_param_count_equals_built_model(name, fields):
    fields = dict(fields)
    cfg = validate_experiment(gen_experim(fields.pop("hidden_dim"), seq_length=64, **fields)[0])
    model = build_model(cfg)
    counts = param_counts(cfg)
    assert counts.total == sum(p.numel() for p in model.parameters())
    embeddings = sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters())
    head = sum(p.numel() for p in model.head.parameters()) if getattr(model, "head", None) is not None else 0
    assert counts.non_embedding == counts.total - embeddings - head


def test_token_budget_is_ratio_times_params():
    for ratio in (20.0, 5.0):
        exp = gen_experim(64, token_to_param_ratio=ratio)[0]
        assert exp["max_tokens_training"] == round(ratio * param_counts(validate_experiment(exp)).total)
    assert gen_experim(64, max_tokens_training=12345)[0]["max_tokens_training"] == 12345


def test_depth_heads_and_ffn_rules():
    exp = gen_experim(768)[0]
    assert (exp["num_layers"], exp["num_heads"], exp["ffn_dim"]) == (12, 12, 3072)
    assert gen_experim(48, activation="swiglu")[0]["ffn_dim"] == 128
    assert default_num_heads(200) == 2  # 200 // 64 = 3 does not divide 200
    assert gen_experim(64, num_layers=5)[0]["num_layers"] == 5


def test_gen_experim_is_pure_and_composes():
    first = gen_experim(32, label="a") + gen_experim(64, label="b", folder_name="study")
    second = gen_experim(32, label="a") + gen_experim(64, label="b", folder_name="study")
    assert first == second
    assert [e["label"] for e in first] == ["a", "b"]
    assert first[0]["folder_name"] == "default" and first[1]["folder_name"] == "study"
    assert gen_experim(32)[0]["label"] == "d32"


def test_gen_experim_rejects_unknown_override():
    with pytest.raises(ConfigError, match="unknown config field 'hiden_dim'"):
        gen_experim(32, hiden_dim=3)
    with pytest.raises(ConfigError, match="hidden_dim=0 must be a positive int"):
        gen_experim(0)


def test_multi_lr_labels_folders_and_values():
    base = gen_experim(32, folder_name="s") + gen_experim(64, folder_name="s")
    sweep = create_multi_lr_experiments(base, [1e-3, 3e-3])
    assert [e["label"] for e in sweep] == ["d32_lr_0.001", "d32_lr_0.003", "d64_lr_0.001", "d64_lr_0.003"]
    assert {e["folder_name"] for e in sweep} == {"s_lr_sweep"}
    assert [e["learning_rate"] for e in sweep] == [1e-3, 3e-3, 1e-3, 3e-3]
    assert sweep[0]["max_tokens_training"] == base[0]["max_tokens_training"]


def test_multi_seed_sets_seeds_and_labels():
    runs = create_multi_seed_experiments(gen_experim(32), [0, 1, 2])
    assert [e["label"] for e in runs] == ["d32_s0", "d32_s1", "d32_s2"]
    assert [(e["model_seed"], e["batch_seed"], e["data_seed"]) for e in runs] == [(0, 0, 0), (1, 1, 0), (2, 2, 0)]
    with pytest.raises(ConfigError, match="seed field 'lr'"):
        create_multi_seed_experiments(gen_experim(32), [0], which=("lr",))


def test_with_overrides_rederives_budget_when_width_changes():
    exp = gen_experim(32)[0]
    wider = with_overrides(exp, hidden_dim=128)
    assert wider["max_tokens_training"] == gen_experim(128)[0]["max_tokens_training"]
    assert with_overrides(exp, learning_rate=0.01)["max_tokens_training"] == exp["max_tokens_training"]


def test_isoflop_labels_are_unique_for_close_budgets():
    from experiment_utils import create_isoflop_experiments
    from scaling_laws.studies.build import format_budget
    assert [format_budget(c) for c in (1e15, 1.2e15, 1.5e18, 2e18, 2.5e18, 3e11)] == \
        ["1e+15", "1.2e+15", "1.5e+18", "2e+18", "2.5e+18", "3e+11"]
    runs = create_isoflop_experiments(gen_experim(16), [1.5e11, 2e11, 2.5e11])
    assert [r["label"] for r in runs] == ["d16_C1.5e+11", "d16_C2e+11", "d16_C2.5e+11"]
    with pytest.raises(ConfigError, match="repeat a budget"):
        create_isoflop_experiments(gen_experim(16), [1e11, 1.0e11])
