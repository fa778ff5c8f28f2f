"""Validating an experiment: the schema's checks, its architecture's, then its dataset's. The one way in
from a dict."""
from __future__ import annotations

from typing import Any

from scaling_laws.config import ConfigError, ExperimentConfig, build_config
from scaling_laws.data.meta import META_NAME
from scaling_laws.data.spec import summarize
from scaling_laws.models import architecture


def check_dataset(cfg: ExperimentConfig) -> None:
    """The dataset must be readable as named, and vocab_size must hold every token id of its tokenizer
    (larger is allowed: padding the vocabulary to a multiple of 64 is common)."""
    summary = summarize(cfg.dataset, cfg.val_fraction, cfg.data_seed)
    if cfg.vocab_size < summary.vocab_size:
        source = f"{summary.name}/{META_NAME}" if summary.kind == "prepared" else "byte-level data"
        raise ConfigError(f"vocab_size={cfg.vocab_size} is smaller than the vocabulary of dataset={cfg.dataset!r} "
                          f"({summary.vocab_size}, from {source}); set vocab_size >= {summary.vocab_size}, or leave "
                          "it unset: gen_experim takes it from the dataset")


def validate_experiment(experiment: dict[str, Any]) -> ExperimentConfig:
    """The typed config, or ConfigError naming the field, the bad value and what is allowed."""
    cfg = build_config(experiment)
    architecture(cfg.architecture).check(cfg)
    check_dataset(cfg)
    return cfg
