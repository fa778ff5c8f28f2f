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
from scaling_laws.models.memory import GIB, estimate, usable_bytes

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
    """Refuse what cannot run on a device of gpu_memory_gb: a model whose step with one sequence does not fit the
    whole device, or a micro-batch the user fixed whose predicted step does not.

    The micro-batch rule (models/memory.py) keeps within target_gpu_memory_usage and falls back to one
    sequence when even that does not fit it; this check refuses only what cannot fit in the whole device.
    """
    device = usable_bytes(cfg.gpu_memory_gb, 1.0)
    one = estimate(cfg, batch_size=1, accumulation=cfg.target_effective_batch_size)
    if one.device_bytes > device:
        total = one.parameters // 4
        raise ConfigError(
            f"hidden_dim={cfg.hidden_dim} (num_layers={cfg.num_layers}) makes a model of {total:.3g} parameters "
            f"that needs {one.device_bytes / GIB:.3g} GiB for its training state and one sequence, more than "
            f"gpu_memory_gb={cfg.gpu_memory_gb:g}; use a smaller model, or raise gpu_memory_gb if the device "
            "really has that much")
    needed = estimate(cfg).device_bytes
    if cfg.micro_batch_fixed and needed > device:
        raise ConfigError(
            f"batch_size={cfg.batch_size} (gradient_accumulation_steps={cfg.gradient_accumulation_steps}) needs a "
            f"predicted {needed / GIB:.3g} GiB per step, more than gpu_memory_gb={cfg.gpu_memory_gb:g}; set a "
            "smaller batch_size, or leave batch_size and gradient_accumulation_steps unset to have them derived")
