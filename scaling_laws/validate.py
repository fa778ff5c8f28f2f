"""Validating an experiment: the schema's checks, then its architecture's. The one way in from a dict."""
from __future__ import annotations

from typing import Any

from scaling_laws.config import ExperimentConfig, build_config
from scaling_laws.models import architecture


def validate_experiment(experiment: dict[str, Any]) -> ExperimentConfig:
    """The typed config, or ConfigError naming the field, the bad value and what is allowed."""
    cfg = build_config(experiment)
    architecture(cfg.architecture).check(cfg)
    return cfg
