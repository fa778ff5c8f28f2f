"""The optimizer registry: config checks, what reaches torch, and that each one trains a tiny model."""
import pytest
import torch

from core import train
from experiment_utils import gen_experim
from scaling_laws.config import ConfigError
from scaling_laws.models import build_model
from scaling_laws.models.parametrization import param_groups
from scaling_laws.results_layout import read_metrics_rows, run_paths
from scaling_laws.training.optim import build_optimizer
from scaling_laws.training.optimizers import OPTIMIZER_FIELDS, OPTIMIZERS
from scaling_laws.validate import validate_experiment

# A learning rate at which each optimizer moves a tiny model in a few dozen steps.
LEARNING_RATES = {"adamw": 3e-3, "adam": 3e-3, "sgd": 0.3, "rmsprop": 1e-3, "adagrad": 3e-2}
EXTRA = {"sgd": dict(momentum=0.9, nesterov=True, weight_decay=0.0), "rmsprop": dict(momentum=0.5, alpha=0.9)}


def tiny(tiny_fields, **changes):
    fields = {**tiny_fields, **changes}
    return validate_experiment(gen_experim(fields.pop("hidden_dim"), folder_name="opt", **fields)[0])


def test_every_registered_optimizer_is_offered_and_has_a_test_learning_rate():
    assert set(OPTIMIZERS) == set(LEARNING_RATES) == {"adamw", "adam", "sgd", "rmsprop", "adagrad"}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_each_optimizer_trains_a_tiny_model_and_its_loss_falls(tiny_fields, name):
    cfg = tiny(tiny_fields, label=name, optimizer=name, learning_rate=LEARNING_RATES[name], **EXTRA.get(name, {}))
    summary = train(cfg, run_paths(cfg))
    losses = [float(row["loss"]) for row in read_metrics_rows(run_paths(cfg).csv)]
    assert summary["status"] == "complete"
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.3, f"{name}: loss did not fall: {losses[:5]} .. {losses[-5:]}"


def test_the_config_fields_reach_the_torch_optimizer(tiny_fields):
    cfg = tiny(tiny_fields, optimizer="sgd", momentum=0.8, nesterov=True)
    optimizer = build_optimizer(param_groups(build_model(cfg), cfg), cfg, torch.device("cpu"))
    assert isinstance(optimizer, torch.optim.SGD)
    assert all(g["momentum"] == 0.8 and g["nesterov"] for g in optimizer.param_groups)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [cfg.weight_decay, 0.0]  # decay on matrices only
    cfg = tiny(tiny_fields, optimizer="rmsprop", alpha=0.9, eps=1e-6)
    optimizer = build_optimizer(param_groups(build_model(cfg), cfg), cfg, torch.device("cpu"))
    assert isinstance(optimizer, torch.optim.RMSprop) and optimizer.param_groups[0]["alpha"] == 0.9
    assert optimizer.param_groups[0]["eps"] == 1e-6


@pytest.mark.parametrize("changes, fragment", [
    (dict(optimizer="lion"), "optimizer='lion' is not allowed; choose one of adamw, adam, sgd, rmsprop, adagrad"),
    (dict(optimizer="sgd", beta2=0.98), "beta2=0.98 is not read by optimizer='sgd', which reads momentum, nesterov, "
                                        "weight_decay"),
    (dict(optimizer="adamw", momentum=0.9), "momentum=0.9 is not read by optimizer='adamw'"),
    (dict(optimizer="sgd", nesterov=True), "nesterov=True needs momentum > 0"),
    (dict(optimizer="sgd", momentum=1.0), "momentum=1.0 must be in [0, 1)"),
    (dict(optimizer="rmsprop", alpha=1.5), "alpha=1.5 must be in [0, 1)"),
    (dict(optimizer="sgd", use_mup=True, mup_base_width=16), "use_mup=True with optimizer='sgd' is refused"),
])
def test_optimizer_config_errors_name_field_value_and_allowed(tiny_fields, changes, fragment):
    with pytest.raises(ConfigError) as error:
        tiny(tiny_fields, **changes)
    assert fragment in str(error.value)


def test_an_unread_field_error_names_the_optimizers_that_read_it(tiny_fields):
    with pytest.raises(ConfigError, match="choose an optimizer that reads it: rmsprop"):
        tiny(tiny_fields, optimizer="adam", alpha=0.9)
    assert all("weight_decay" in fields for fields in OPTIMIZER_FIELDS.values())


def test_the_registry_builds_exactly_the_optimizers_the_schema_names():
    assert set(OPTIMIZERS) == set(OPTIMIZER_FIELDS)


def _clipped_run(optimizer_class, fused: bool, max_norm: float, **kwargs):
    """Parameters and grad norms after 4 clipped steps of a small linear model on large inputs."""
    from scaling_laws.training.optim import clipped_step

    torch.manual_seed(0)
    model = torch.nn.Linear(8, 4)
    optimizer = optimizer_class(model.parameters(), lr=0.1, fused=fused, **kwargs)
    params, norms = list(model.parameters()), []
    for _ in range(4):
        optimizer.zero_grad()
        model(10 * torch.randn(16, 8)).pow(2).mean().backward()
        norms.append(float(clipped_step(optimizer, params, max_norm)))
    return [p.detach().clone() for p in params], norms


@pytest.mark.parametrize("optimizer_class, kwargs", [(torch.optim.AdamW, {"weight_decay": 0.1}),
                                                     (torch.optim.SGD, {"momentum": 0.9})])
def test_a_fused_optimizer_clips_inside_its_kernel_as_clip_grad_norm_does(optimizer_class, kwargs):
    # CUDA runs take the fused path (grad_scale); torch's fused kernels also run on the CPU, so compare here.
    plain, plain_norms = _clipped_run(optimizer_class, False, 1.0, **kwargs)
    fused, fused_norms = _clipped_run(optimizer_class, True, 1.0, **kwargs)
    assert min(plain_norms) > 5, "the test needs norms above the clip, or nothing is clipped"
    assert fused_norms == pytest.approx(plain_norms, rel=1e-6)
    for a, b in zip(plain, fused):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    unclipped, _ = _clipped_run(optimizer_class, True, 0.0, **kwargs)
    assert max(float((a - b).abs().max()) for a, b in zip(unclipped, fused)) > 1e-3, "max_norm=0 must not clip"
