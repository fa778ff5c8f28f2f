"""muP and CompleteP (models/mup.py, models/parametrization.py): the rules as numbers, the standard model at
the base shape, per-group rates through the real training step, and the refusals."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from core import Trainer
from experiment_utils import gen_experim
from scaling_laws.config import ConfigError
from scaling_laws.models import ARCHITECTURES, build_model
from scaling_laws.models.architecture import Architecture
from scaling_laws.models.parametrization import describe_mup, param_groups, parameter_roles
from scaling_laws.training.distributed import DistContext
from scaling_laws.validate import validate_experiment

SMALL = dict(num_layers=2, seq_length=16, target_effective_batch_size=4, max_tokens_training=4 * 16 * 6,
             eval_interval=10, eval_sequences=4, learning_rate=1e-2, warmup_fraction=0.0, lr_schedule="constant",
             device="cpu")


def config(width: int, **changes):
    fields = {**SMALL, **changes}
    return validate_experiment(gen_experim(width, folder_name="mup", **fields)[0])


def mup_config(width: int, base: int = 16, **changes):
    """Two heads at every width: head size grows with width from the base model's (base / 2)."""
    return config(width, use_mup=True, mup_base_width=base, num_heads=2, mup_base_head_dim=base // 2, **changes)


def groups_by_name(cfg):
    return {g["name"]: g for g in param_groups(build_model(cfg), cfg)}


def test_roles_come_from_shapes_relative_to_the_base_model():
    cfg = mup_config(64, tie_embeddings=False)
    roles = parameter_roles(build_model(cfg), cfg)
    assert roles["blocks.0.attn.qkv.weight"] == roles["blocks.1.mlp.down.weight"] == "hidden"
    assert roles["token_embedding.weight"] == roles["position_embedding.weight"] == "embedding"
    assert roles["head.weight"] == "output"
    assert roles["blocks.0.ln_attn.weight"] == "block_vector" and roles["ln_final.bias"] == "vector"


@pytest.mark.parametrize("width", [32, 64, 128])
def test_lr_weight_decay_and_eps_follow_the_adam_mup_rules(width):
    base = 16
    for rule, decay in (("width_scaled", 0.1 * width / base), ("coupled", 0.1)):
        groups = groups_by_name(mup_config(width, base, weight_decay=0.1, mup_weight_decay=rule))
        assert groups["hidden"]["lr_multiplier"] == pytest.approx(base / width)
        assert groups["hidden"]["weight_decay"] == pytest.approx(decay)
        assert groups["hidden"]["eps"] == pytest.approx(1e-8 * base / width)
        for name in ("embedding", "vector", "block_vector"):
            assert groups[name]["lr_multiplier"] == 1.0
        assert groups["vector"]["weight_decay"] == groups["block_vector"]["weight_decay"] == 0.0
    assert groups_by_name(mup_config(width, base, mup_embedding_lr_multiplier=3.0))["embedding"]["lr_multiplier"] == 3.0


def test_init_std_and_forward_multipliers_scale_with_width():
    narrow, wide = build_model(mup_config(32, tie_embeddings=False)), build_model(mup_config(128, tie_embeddings=False))
    ratio = wide.blocks[0].mlp.up.weight.detach().std() / narrow.blocks[0].mlp.up.weight.detach().std()
    assert float(ratio) == pytest.approx(0.5, rel=0.05)  # variance 1/fan_in: std x (32/128)^1/2
    assert float(wide.token_embedding.weight.detach().std()) == pytest.approx(0.02, rel=0.05)
    assert float(wide.head.weight.detach().std()) == pytest.approx(0.02, rel=0.05)
    assert narrow.logit_multiplier == pytest.approx(0.5) and wide.logit_multiplier == pytest.approx(0.125)
    # 2 heads: head size 16 at width 32 (base 8 at width 16), 64 at 128: scale sqrt(8)/d_head
    assert narrow.blocks[0].attn.scale == pytest.approx(8 ** 0.5 / 16)
    assert wide.blocks[0].attn.scale == pytest.approx(8 ** 0.5 / 64)


def test_the_init_multiplier_scales_hidden_matrices_only():
    """Same seed: hidden matrices x mup_init_multiplier, embeddings untouched; refused without muP."""
    plain, scaled = (build_model(mup_config(64, mup_init_multiplier=m, tie_embeddings=False)) for m in (1.0, 3.0))
    assert torch.allclose(scaled.blocks[0].mlp.up.weight, 3.0 * plain.blocks[0].mlp.up.weight)
    assert torch.equal(scaled.token_embedding.weight, plain.token_embedding.weight)
    assert torch.equal(scaled.head.weight, plain.head.weight)
    with pytest.raises(ConfigError, match="mup_init_multiplier=2.0 is only read with use_mup=True"):
        config(32, mup_init_multiplier=2.0)


@pytest.mark.parametrize("tie", [True, False])
def test_mup_at_the_base_width_is_the_standard_model_and_makes_its_updates(tie):
    """Same weights, same logits, and after three AdamW steps of the real train_step the same weights again."""
    sp, mu = config(32, num_heads=2, tie_embeddings=tie), mup_config(32, base=32, tie_embeddings=tie)
    assert mu.use_mup and not sp.use_mup
    trainers = [Trainer(cfg, DistContext()) for cfg in (sp, mu)]
    for a, b in zip(trainers[0].raw_model.parameters(), trainers[1].raw_model.parameters()):
        assert torch.equal(a, b)
    for step in range(3):
        for trainer in trainers:
            trainer.train_step(trainer.step_batches(step), lr=1e-2)
    for (name, a), b in zip(trainers[0].raw_model.named_parameters(), trainers[1].raw_model.parameters()):
        assert torch.equal(a, b), f"{name} differs after three steps"


def test_every_group_keeps_its_multiplier_through_the_schedule():
    cfg = mup_config(64, learning_rate=1e-2, lr_schedule="cosine", warmup_fraction=0.5)
    trainer = Trainer(cfg, DistContext())
    for step, lr in enumerate((1e-3, 5e-3)):
        trainer.train_step(trainer.step_batches(step), lr)
        for group in trainer.optimizer.param_groups:
            expected = {"hidden": 16 / 64}.get(group["name"], 1.0)
            assert group["lr"] == pytest.approx(lr * expected), group["name"]


def test_completep_scales_branches_and_rates_with_depth():
    for alpha in (0.5, 1.0):
        cfg = mup_config(64, num_layers=8, completep_alpha=alpha, completep_base_depth=2)
        model = build_model(cfg)
        assert all(block.residual_multiplier == pytest.approx((2 / 8) ** alpha) for block in model.blocks)
        groups = {g["name"]: g for g in param_groups(model, cfg)}
        assert groups["hidden"]["lr_multiplier"] == pytest.approx(16 / 64 * 4 ** (alpha - 1))
        assert groups["block_vector"]["lr_multiplier"] == pytest.approx(4 ** (alpha - 1))
        assert groups["hidden"]["eps"] == pytest.approx(1e-8 * 16 / 64 * 4 ** -alpha)
        assert groups["embedding"]["lr_multiplier"] == groups["vector"]["lr_multiplier"] == 1.0
    # the residual-output init is the base depth's, not 1/sqrt(2L) of the deep model
    deep = build_model(mup_config(16, num_layers=8, completep_alpha=1.0, completep_base_depth=2))
    assert float(deep.blocks[0].attn.proj.weight.detach().std()) == pytest.approx(0.02 / 2, rel=0.1)


def test_describe_mup_shows_every_group_and_forward_multiplier():
    text = describe_mup(mup_config(64, tie_embeddings=False, num_layers=4, completep_alpha=1.0, completep_base_depth=2))
    assert "m_N=4" in text and "m_L=2" in text
    for name in ("hidden", "block_vector", "embedding", "output", "vector", "logits x 0.25", "residual branches x 0.5"):
        assert name in text
    assert describe_mup(config(64)).startswith("parametrization: standard")


def test_the_base_width_must_hold_whole_base_heads():
    with pytest.raises(ConfigError, match="mup_base_width=16 does not hold whole heads of size 32"):
        config(64, use_mup=True, mup_base_width=16, num_heads=2)
    assert config(64, use_mup=True, mup_base_width=32, num_heads=2)  # heads grow: head size 32 at both widths


def test_width_only_mup_refuses_a_derived_depth():
    with pytest.raises(ConfigError, match="give num_layers explicitly"):
        gen_experim(64, use_mup=True, mup_base_width=16)
    assert gen_experim(64, use_mup=True, mup_base_width=16, mup_base_head_dim=16, num_layers=2)  # fixed depth: fine
    assert gen_experim(256, use_mup=True, mup_base_width=64, completep_alpha=1.0, completep_base_depth=2)


def test_an_architecture_without_mup_support_is_refused(monkeypatch):
    refusing = dataclasses.replace(ARCHITECTURES["transformer"], name="nomup", supports_mup=False)
    monkeypatch.setitem(ARCHITECTURES, "nomup", refusing)
    experiment = gen_experim(32, num_layers=2, seq_length=16)[0]
    with pytest.raises(ConfigError, match="use_mup=True is not supported for architecture='nomup'"):
        validate_experiment({**experiment, "architecture": "nomup", "use_mup": True, "mup_base_width": 32})
    assert isinstance(refusing, Architecture)
