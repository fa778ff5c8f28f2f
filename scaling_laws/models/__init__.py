"""The architecture registry, keyed by the config's ``architecture``; a new family is one line here."""
from __future__ import annotations

from scaling_laws.config import ConfigError
from scaling_laws.counting import ParamCounts
from scaling_laws.models.architecture import Architecture, ConfigLike
from scaling_laws.models import lstm, transformer

ARCHITECTURES: dict[str, Architecture] = {arch.name: arch for arch in (
    transformer.ARCHITECTURE,
    lstm.ARCHITECTURE,
)}


def architecture(name: str) -> Architecture:
    """The registered architecture called ``name``; ConfigError listing the known ones otherwise."""
    if name not in ARCHITECTURES:
        raise ConfigError(f"architecture={name!r} is not allowed; choose one of {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]


def param_counts(cfg: ConfigLike) -> ParamCounts:
    """Parameter counts of the model a config builds (total and non-embedding)."""
    return architecture(cfg.architecture).param_counts(cfg)


def build_model(cfg: ConfigLike):
    """The model for ``cfg.architecture``, initialised from ``cfg.model_seed`` on the CPU."""
    import torch  # only building a model needs torch; defining studies does not

    from scaling_laws.models.parametrization import rescale_init

    torch.manual_seed(cfg.model_seed)
    model = architecture(cfg.architecture).build(cfg)
    rescale_init(model, cfg)  # muP's init (a no-op under the standard parametrization)
    return model


__all__ = ["ARCHITECTURES", "Architecture", "architecture", "build_model", "param_counts"]
