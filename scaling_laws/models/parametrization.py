"""How a parametrization assigns each parameter its optimizer group: weight decay, epsilon, a learning-rate
multiplier and an init multiplier. The training loop sets every group's lr to
``schedule(step) x group["lr_multiplier"]``; ``build_model`` applies ``rescale_init`` once.

Standard parametrization: decay on matrices, none on norms and biases, every multiplier 1.
muP / CompleteP (use_mup, the rules in models/mup.py): each parameter gets a role from its shape relative to
models of the same config at two widths (built on the meta device: no memory, no init): a matrix whose two
dimensions both grow with width is hidden; the parameters of ``nn.Embedding`` modules are embeddings, the
untied readout is the model's ``head``; vectors inside the residual blocks (``blocks.*``) are block vectors,
other vectors plain vectors. Names decide nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from scaling_laws.config import ConfigError
from scaling_laws.models import mup
from scaling_laws.models.architecture import ConfigLike

ROLES = ("hidden", "block_vector", "embedding", "output", "vector")


@dataclass(frozen=True)
class Rule:
    """One role's multipliers (all 1 at the base shape)."""

    lr: float  # x learning_rate
    weight_decay: float  # the group's AdamW weight decay (absolute)
    eps: float  # x eps
    init: str  # how the init std is scaled, in words (rescale_init applies it)


def param_groups(model: nn.Module, cfg: ConfigLike) -> list[dict[str, Any]]:
    """Optimizer groups for ``model``: ``params``, ``weight_decay``, ``lr_multiplier``, ``name`` (and ``eps``
    under muP)."""
    if not cfg.use_mup:
        params = [p for p in model.parameters() if p.requires_grad]
        return [{"name": "matrices", "params": [p for p in params if p.dim() >= 2],
                 "weight_decay": cfg.weight_decay, "lr_multiplier": 1.0},
                {"name": "vectors", "params": [p for p in params if p.dim() < 2],
                 "weight_decay": 0.0, "lr_multiplier": 1.0}]
    roles = parameter_roles(model, cfg)
    rules = role_rules(cfg)
    groups = []
    for role in ROLES:
        params = [p for name, p in model.named_parameters() if p.requires_grad and roles[name] == role]
        if params:
            rule = rules[role]
            groups.append({"name": role, "params": params, "weight_decay": rule.weight_decay,
                           "lr_multiplier": rule.lr, "eps": cfg.eps * rule.eps})
    return groups


def role_rules(cfg: ConfigLike) -> dict[str, Rule]:
    """Each role's multipliers under muP / CompleteP (models/mup.py has the sources)."""
    m_n, m_l, a = mup.width_multiplier(cfg), mup.depth_multiplier(cfg), mup.alpha(cfg)
    block_eps = 1.0 / m_n * m_l ** -a
    return {"hidden": Rule(lr=1.0 / m_n * m_l ** (a - 1), weight_decay=mup.hidden_weight_decay(cfg), eps=block_eps,
                           init="x (base fan_in / fan_in)^1/2" + (f" x {cfg.mup_init_multiplier:g}"
                                                                   if cfg.mup_init_multiplier != 1 else "")),
            "block_vector": Rule(lr=m_l ** (a - 1), weight_decay=0.0, eps=block_eps, init="x 1"),
            "embedding": Rule(lr=cfg.mup_embedding_lr_multiplier, weight_decay=cfg.weight_decay, eps=1.0, init="x 1"),
            "output": Rule(lr=1.0, weight_decay=cfg.weight_decay, eps=1.0, init="x 1"),
            "vector": Rule(lr=1.0, weight_decay=0.0, eps=1.0, init="x 1")}


def _meta_shapes(cfg: ConfigLike, width: int) -> dict[str, torch.Size]:
    from scaling_laws.models import architecture

    with torch.device("meta"):
        model = architecture(cfg.architecture).build(mup.shape_at_width(cfg, width))
    return {name: p.shape for name, p in model.named_parameters()}


def parameter_roles(model: nn.Module, cfg: ConfigLike) -> dict[str, str]:
    """Every parameter's role, from which of its dimensions grow between the base width and twice it."""
    base, wider = _meta_shapes(cfg, cfg.mup_base_width), _meta_shapes(cfg, 2 * cfg.mup_base_width)
    embeddings = {f"{prefix}.{name}" if prefix else name
                  for prefix, module in model.named_modules() if isinstance(module, nn.Embedding)
                  for name, _ in module.named_parameters(recurse=False)}
    roles = {}
    for name, param in model.named_parameters():
        if name not in base:
            raise ConfigError(f"parameter {name} is not in the base-width model: use_mup needs the same "
                              f"parameters at every width (architecture={cfg.architecture!r})")
        growing = sum(a != b for a, b in zip(base[name], wider[name]))
        if name in embeddings:
            roles[name] = "embedding"
        elif name.startswith("head."):
            roles[name] = "output"
        elif param.dim() < 2:
            roles[name] = "block_vector" if name.startswith("blocks.") else "vector"
        elif growing == 2:
            roles[name] = "hidden"
        else:
            raise ConfigError(f"parameter {name} of shape {tuple(param.shape)} is neither a hidden matrix (both "
                              "dimensions grow with width), an embedding nor the readout `head`: muP has no rule "
                              f"for it (architecture={cfg.architecture!r})")
    return roles


def init_multipliers(model: nn.Module, cfg: ConfigLike) -> dict[str, float]:
    """Factor on each parameter's standard init std: mup_init_multiplier x (base fan_in / fan_in)^1/2 on hidden
    matrices, else 1."""
    if not cfg.use_mup:
        return {name: 1.0 for name, _ in model.named_parameters()}
    roles, base = parameter_roles(model, cfg), _meta_shapes(cfg, cfg.mup_base_width)
    return {name: cfg.mup_init_multiplier * (base[name][1] / p.shape[1]) ** 0.5 if roles[name] == "hidden" else 1.0
            for name, p in model.named_parameters()}


@torch.no_grad()
def rescale_init(model: nn.Module, cfg: ConfigLike) -> None:
    """Scale the standard init to muP's: N(0, s) x c is N(0, c s) from the same draws, so at the base
    width (c = 1) the model is the standard one, bit for bit."""
    if not cfg.use_mup:
        return
    factors = init_multipliers(model, cfg)
    for name, param in model.named_parameters():
        if factors[name] != 1.0:
            param.mul_(factors[name])


def mup_multipliers(cfg: ConfigLike) -> dict[str, Any]:
    """The multipliers a run uses, for its config JSON: per role lr / weight decay / eps, and the forward ones
    (empty under the standard parametrization)."""
    if not cfg.use_mup:
        return {}
    head_dim = cfg.hidden_dim // cfg.num_heads
    return {"groups": {role: {"lr_multiplier": r.lr, "weight_decay": r.weight_decay, "eps_multiplier": r.eps,
                              "init": r.init} for role, r in role_rules(cfg).items()},
            "attention_scale": mup.attention_scale(cfg, head_dim), "residual_multiplier": mup.residual_multiplier(cfg),
            "logit_multiplier": mup.logit_multiplier(cfg)}


def describe_mup(cfg: ConfigLike) -> str:
    """A table of the multipliers a run uses: each optimizer group's lr, weight decay, eps and init, and the
    forward multipliers (attention, residual branches, logits). Builds the model on the meta device only."""
    from scaling_laws.models import architecture

    with torch.device("meta"):
        model = architecture(cfg.architecture).build(cfg)
    if not cfg.use_mup:
        return "parametrization: standard (every lr, init and forward multiplier 1)"
    rules = role_rules(cfg)
    counts: dict[str, int] = {}
    for name, role in parameter_roles(model, cfg).items():
        counts[role] = counts.get(role, 0) + 1
    head_dim = cfg.hidden_dim // cfg.num_heads
    lines = [f"parametrization: muP, width {cfg.hidden_dim} / base {cfg.mup_base_width} (m_N={mup.width_multiplier(cfg):g})"
             + (f", depth {cfg.num_layers} / base {cfg.completep_base_depth} (m_L={mup.depth_multiplier(cfg):g}, "
                f"alpha={cfg.completep_alpha:g})" if mup.alpha(cfg) > 0 else ""),
             f"{'group':<13}{'tensors':>8}{'lr x':>12}{'weight decay':>14}{'eps x':>12}  init std",
             *(f"{role:<13}{counts[role]:>8}{rules[role].lr:>12.4g}{rules[role].weight_decay:>14.4g}"
               f"{rules[role].eps:>12.4g}  {rules[role].init}" for role in ROLES if role in counts),
             f"forward: attention q.k x {mup.attention_scale(cfg, head_dim):.4g} (SP {head_dim ** -0.5:.4g}), "
             f"residual branches x {mup.residual_multiplier(cfg):.4g}, logits x {mup.logit_multiplier(cfg):.4g}"]
    return "\n".join(lines)
