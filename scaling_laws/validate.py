"""Validating an experiment: the schema's checks, its architecture's, then its dataset's. The one way in
from a dict.

Checks of this machine rather than of the config (does the dataset exist, is it readable as named?)
raise too, except inside ``problems_deferred()``, where they are collected per run instead:
``--status`` must show every run of a study even when one experiment's dataset has gone.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator, Optional

from scaling_laws.config import ConfigError, ExperimentConfig, build_config, check_dataset_exists
from scaling_laws.data.meta import META_NAME
from scaling_laws.data.spec import summarize
from scaling_laws.models import ARCHITECTURES, architecture
from scaling_laws.models.memory import model_state_bytes

RunKey = tuple[str, str]  # (folder_name, label)
_deferred: ContextVar[Optional[dict[RunKey, str]]] = ContextVar("deferred_problems", default=None)


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
    arch = architecture(cfg.architecture)
    if cfg.use_mup and not arch.supports_mup:
        raise ConfigError(f"use_mup=True is not supported for architecture={cfg.architecture!r} (its parameters do "
                          "not follow muP's contract, models/parametrization.py); set use_mup=False, or use one of "
                          f"{', '.join(name for name, a in ARCHITECTURES.items() if a.supports_mup)}")
    arch.check(cfg)
    check_fits_device(cfg)
    _check_machine(cfg)
    return cfg


@contextmanager
def problems_deferred() -> Iterator[dict[RunKey, str]]:
    """Inside, a failed check of this machine is recorded as {(folder, label): message} instead of raised."""
    token = _deferred.set({})
    try:
        yield _deferred.get()
    finally:
        _deferred.reset(token)


def defer_problem(key: RunKey, message: str) -> bool:
    """Inside problems_deferred(), record the run's problem and answer True (go on); outside, False (raise)."""
    found = _deferred.get()
    if found is None:
        return False
    found.setdefault(key, message)
    return True


def _check_machine(cfg: ExperimentConfig) -> None:
    try:
        check_dataset_exists(cfg)
        check_dataset(cfg)
    except ConfigError as error:
        found = _deferred.get()
        if found is None:
            raise
        found[(cfg.folder_name, cfg.label)] = str(error)


def check_fits_device(cfg: ExperimentConfig) -> None:
    """The model's training state plus one sequence's activations must fit in gpu_memory_gb, or no micro-batch can.

    The micro-batch rule (models/memory.py) keeps a margin and falls back to one sequence when even
    that does not fit it; this check refuses only what cannot fit in the whole device.
    """
    arch = architecture(cfg.architecture)
    total = arch.param_counts(cfg).total
    needed = model_state_bytes(total) + arch.activation_bytes_per_sequence(cfg)
    if needed > cfg.gpu_memory_gb * 2**30:
        raise ConfigError(
            f"hidden_dim={cfg.hidden_dim} (num_layers={cfg.num_layers}) makes a model of {total:.3g} parameters "
            f"that needs {needed / 2**30:.3g} GiB for its training state and one sequence, more than "
            f"gpu_memory_gb={cfg.gpu_memory_gb:g}; use a smaller model, or raise gpu_memory_gb if the device "
            "really has that much")
