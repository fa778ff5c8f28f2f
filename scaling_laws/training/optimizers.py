"""The optimizer registry: ``optimizer`` -> its torch.optim class and constructor arguments.

The schema (config.OPTIMIZER_FIELDS) names each optimizer and the fields it reads, and validates
against that (a field the chosen optimizer does not read must keep its default); ``OPTIMIZERS`` builds
them, one entry per name there (tests/test_training_optimizers.py). No torch at import: defining a
study needs none. Every optimizer takes the parametrization's groups, whose ``weight_decay`` is per group:
AdamW decays decoupled (Loshchilov & Hutter 2019), the others add it to the gradient (L2), as torch does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from scaling_laws.config import OPTIMIZER_FIELDS, TUNABLE_FIELDS  # noqa: F401 (re-exported)

ConfigLike = Any


@dataclass(frozen=True)
class OptimizerSpec:
    torch_class: str  # its name in torch.optim
    kwargs: Callable[[ConfigLike], dict[str, Any]]  # constructor arguments from those fields
    fused_on_cuda: bool  # torch offers fused=True for CUDA tensors (else foreach=True on CUDA)


def _adam(cfg: ConfigLike) -> dict[str, Any]:
    return {"betas": (cfg.beta1, cfg.beta2), "eps": cfg.eps}


OPTIMIZERS: dict[str, OptimizerSpec] = {
    "adamw": OptimizerSpec("AdamW", _adam, fused_on_cuda=True),
    "adam": OptimizerSpec("Adam", _adam, fused_on_cuda=True),
    "sgd": OptimizerSpec("SGD", lambda cfg: {"momentum": cfg.momentum, "nesterov": cfg.nesterov}, fused_on_cuda=True),
    "rmsprop": OptimizerSpec("RMSprop", lambda cfg: {"alpha": cfg.alpha, "eps": cfg.eps, "momentum": cfg.momentum},
                             fused_on_cuda=False),
    "adagrad": OptimizerSpec("Adagrad", lambda cfg: {"eps": cfg.eps},
                             fused_on_cuda=False),  # torch's fused Adagrad is CPU-only
}


def build(param_groups: list[dict[str, Any]], cfg: ConfigLike, device) -> Any:
    """The torch optimizer for ``cfg.optimizer`` over the groups; fused (or foreach) kernels on CUDA."""
    import torch

    spec = OPTIMIZERS[cfg.optimizer]
    kernels = {} if device.type != "cuda" else ({"fused": True} if spec.fused_on_cuda else {"foreach": True})
    return getattr(torch.optim, spec.torch_class)(param_groups, lr=cfg.learning_rate, **spec.kwargs(cfg),
                                                  **kernels)
