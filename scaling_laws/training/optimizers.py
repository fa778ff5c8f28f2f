"""The optimizer registry: ``optimizer`` -> its torch.optim class and the config fields it reads.

``OPTIMIZERS`` is the one table; config.py validates against it (a field the chosen optimizer does not
read must keep its default) and optim.build_optimizer builds from it. No torch at import: defining a
study needs none. Every optimizer takes the parametrization's groups, whose ``weight_decay`` is per group:
AdamW decays decoupled (Loshchilov & Hutter 2019), the others add it to the gradient (L2), as torch does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

ConfigLike = Any


@dataclass(frozen=True)
class OptimizerSpec:
    torch_class: str  # its name in torch.optim
    fields: tuple[str, ...]  # the config fields it reads besides learning_rate
    kwargs: Callable[[ConfigLike], dict[str, Any]]  # constructor arguments from those fields
    fused_on_cuda: bool  # torch offers fused=True for CUDA tensors (else foreach=True on CUDA)


def _adam(cfg: ConfigLike) -> dict[str, Any]:
    return {"betas": (cfg.beta1, cfg.beta2), "eps": cfg.eps}


OPTIMIZERS: dict[str, OptimizerSpec] = {
    "adamw": OptimizerSpec("AdamW", ("beta1", "beta2", "eps", "weight_decay"), _adam, fused_on_cuda=True),
    "adam": OptimizerSpec("Adam", ("beta1", "beta2", "eps", "weight_decay"), _adam, fused_on_cuda=True),
    "sgd": OptimizerSpec("SGD", ("momentum", "nesterov", "weight_decay"),
                         lambda cfg: {"momentum": cfg.momentum, "nesterov": cfg.nesterov}, fused_on_cuda=True),
    "rmsprop": OptimizerSpec("RMSprop", ("alpha", "eps", "momentum", "weight_decay"),
                             lambda cfg: {"alpha": cfg.alpha, "eps": cfg.eps, "momentum": cfg.momentum},
                             fused_on_cuda=False),
    "adagrad": OptimizerSpec("Adagrad", ("eps", "weight_decay"), lambda cfg: {"eps": cfg.eps},
                             fused_on_cuda=False),  # torch's fused Adagrad is CPU-only
}
OPTIMIZER_FIELDS: dict[str, tuple[str, ...]] = {name: spec.fields for name, spec in OPTIMIZERS.items()}
# Every field some optimizer reads; one the chosen optimizer does not read must keep its default.
TUNABLE_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(f for spec in OPTIMIZERS.values() for f in spec.fields))


def build(param_groups: list[dict[str, Any]], cfg: ConfigLike, device) -> Any:
    """The torch optimizer for ``cfg.optimizer`` over the groups; fused (or foreach) kernels on CUDA."""
    import torch

    spec = OPTIMIZERS[cfg.optimizer]
    kernels = {} if device.type != "cuda" else ({"fused": True} if spec.fused_on_cuda else {"foreach": True})
    return getattr(torch.optim, spec.torch_class)(param_groups, lr=cfg.learning_rate, **spec.kwargs(cfg),
                                                  **kernels)
