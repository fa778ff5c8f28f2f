"""The muP and CompleteP multipliers as arithmetic on the config (no torch): what the model's hook points
(attention_scale, residual_branch, readout, init_std) and the optimizer groups (parametrization.py) read.

m_N = hidden_dim / mup_base_width, m_L = num_layers / completep_base_depth, alpha = completep_alpha.
muP for Adam (Yang et al. 2022, "Tensor Programs V", Table 8; the mup package does the same):
  - hidden matrices (both dimensions grow with width): init std x m_N^-1/2 (variance 1/fan_in), lr x m_N^-1;
  - embeddings, norm gains and biases: init and lr independent of width;
  - readout: logits x mup_output_multiplier / m_N (tied embeddings: the shared matrix is an embedding);
  - attention: q.k x 1/d_head, scaled to equal 1/sqrt(d_head) at the base head size.
CompleteP (Dey et al. 2025, "Don't be lazy: CompleteP enables compute-efficient deep transformers", Table 1):
  - each residual branch x m_L^-alpha;
  - hidden-matrix lr x m_N^-1 x m_L^(alpha-1); block norm gains and biases lr x m_L^(alpha-1);
  - AdamW eps inside the blocks x m_N^-1 x m_L^-alpha; init independent of depth (the base depth's).
Every multiplier is 1 at the base shape, so muP there builds the standard model and makes its updates.
Not muP for Adam, and not done here: lr x (base/width)^1/2, or a geometric-mean lr for tied weights.
"""
from __future__ import annotations

from types import SimpleNamespace

from scaling_laws.models.architecture import ConfigLike


def width_multiplier(cfg: ConfigLike) -> float:
    """m_N: width over the base width (1 without muP)."""
    return cfg.hidden_dim / cfg.mup_base_width if getattr(cfg, "use_mup", False) else 1.0


def depth_multiplier(cfg: ConfigLike) -> float:
    """m_L: depth over the base depth (1 without CompleteP)."""
    return cfg.num_layers / cfg.completep_base_depth if getattr(cfg, "completep_alpha", 0) > 0 else 1.0


def alpha(cfg: ConfigLike) -> float:
    return getattr(cfg, "completep_alpha", 0.0)


def residual_multiplier(cfg: ConfigLike) -> float:
    """What each residual branch is multiplied by: (base_depth / depth)^alpha."""
    return depth_multiplier(cfg) ** -alpha(cfg)


def logit_multiplier(cfg: ConfigLike) -> float:
    """What the readout's input is multiplied by: mup_output_multiplier / m_N (1 without muP)."""
    if not getattr(cfg, "use_mup", False):
        return 1.0
    return cfg.mup_output_multiplier / width_multiplier(cfg)


def base_head_dim(cfg: ConfigLike) -> int:
    """Head size of the base model: mup_base_head_dim, or by default this model's (heads grow with width, as
    gen_experim's do, and attention is scaled as in SP at every width)."""
    return getattr(cfg, "mup_base_head_dim", None) or cfg.hidden_dim // cfg.num_heads


def attention_scale(cfg: ConfigLike, head_dim: int) -> float:
    """Multiplier of q.k: 1/sqrt(d_head) (Vaswani et al. 2017); muP: sqrt(d_base)/d_head, i.e. 1/d_head
    scaled to equal 1/sqrt(d_head) at the base model's head size d_base."""
    if not getattr(cfg, "use_mup", False):
        return head_dim ** -0.5
    return head_dim ** -0.5 * (base_head_dim(cfg) / head_dim) ** 0.5  # x 1.0 exactly at the base: the SP value


def init_depth(cfg: ConfigLike) -> int:
    """The depth the residual-output init (std / sqrt(2L)) is sized for: the base depth under CompleteP, whose
    branch multiplier already accounts for depth, else num_layers."""
    return cfg.completep_base_depth if alpha(cfg) > 0 else cfg.num_layers


def hidden_weight_decay(cfg: ConfigLike) -> float:
    """Decay of hidden matrices: width_scaled keeps AdamW's per-step shrink lr x wd independent of width (wd x m_N,
    CompleteP's rule); coupled keeps wd, so the shrink falls with the hidden lr (the mup package's behaviour)."""
    scale = width_multiplier(cfg) if cfg.mup_weight_decay == "width_scaled" else 1.0
    return cfg.weight_decay * scale


def shape_at_width(cfg: ConfigLike, width: int) -> SimpleNamespace:
    """The config's model at another width (a multiple of the base head size), as standard parametrization,
    ffn_dim in proportion: the model whose shapes tell which dimensions grow with width."""
    fields = dict(vars(cfg)) if isinstance(cfg, SimpleNamespace) else cfg.to_dict()
    ffn_dim = max(1, round(cfg.ffn_dim * width / cfg.hidden_dim))
    return SimpleNamespace(**{**fields, "hidden_dim": width, "num_heads": width // base_head_dim(cfg),
                              "ffn_dim": ffn_dim, "use_mup": False, "mup_base_width": None,
                              "mup_base_head_dim": None, "completep_alpha": 0.0, "completep_base_depth": None})
