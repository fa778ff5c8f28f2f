"""The GPT-style decoder's default shape from a width, and the shape rules it cannot build without."""
from __future__ import annotations

import math
from typing import Any, Mapping

from scaling_laws.config import ConfigError
from scaling_laws.models.architecture import ConfigLike

# Activations whose up projection makes a gate and a value (three matrices; Shazeer 2020).
GATED_ACTIVATIONS = ("swiglu", "geglu", "glu")


def default_num_layers(hidden_dim: int) -> int:
    """Aspect ratio d/L of about 64, as GPT-2 small; at least 2 blocks."""
    return max(2, hidden_dim // 64)


def default_num_heads(hidden_dim: int) -> int:
    """The largest divisor of hidden_dim that is at most max(1, hidden_dim // 64): head size about 64."""
    upper = max(1, hidden_dim // 64)
    return max(h for h in range(1, upper + 1) if hidden_dim % h == 0)


def default_ffn_dim(hidden_dim: int, activation: str) -> int:
    """4d; for a gated activation 8/3 d rounded up to a multiple of 8 (the same MLP parameters with three
    matrices)."""
    if activation in GATED_ACTIVATIONS:
        return 8 * math.ceil(8 * hidden_dim / 3 / 8)
    return 4 * hidden_dim


def default_shape(fields: Mapping[str, Any]) -> dict[str, Any]:
    d = fields["hidden_dim"]
    return {"num_layers": default_num_layers(d), "num_heads": default_num_heads(d),
            "ffn_dim": default_ffn_dim(d, fields["activation"])}


def check(cfg: ConfigLike) -> None:
    if cfg.hidden_dim % cfg.num_heads:
        raise ConfigError(f"num_heads={cfg.num_heads} does not divide hidden_dim={cfg.hidden_dim}; "
                          f"pick a divisor of {cfg.hidden_dim}")
    head_dim = cfg.hidden_dim // cfg.num_heads
    if cfg.position_encoding == "rotary" and head_dim % 2:
        raise ConfigError(f"position_encoding='rotary' rotates pairs of head dimensions, but hidden_dim="
                          f"{cfg.hidden_dim} / num_heads={cfg.num_heads} = {head_dim} is odd; use an even head "
                          "size, or position_encoding='learned' or 'sinusoidal'")
    if cfg.position_encoding == "sinusoidal" and cfg.hidden_dim % 2:
        raise ConfigError(f"position_encoding='sinusoidal' pairs sine and cosine, but hidden_dim={cfg.hidden_dim} "
                          "is odd; use an even hidden_dim, or position_encoding='learned'")
