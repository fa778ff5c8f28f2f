"""Building studies: ``gen_experim`` and the sweep helpers. Pure functions returning lists of
fully resolved, validated experiment dicts, so studies compose with ``+``.

Derivation rules (each overridable by passing the field explicitly):
- num_layers = max(2, hidden_dim // 64)            (aspect ratio d/L of about 64, as GPT-2 small)
- num_heads  = the largest divisor of hidden_dim that is <= max(1, hidden_dim // 64)  (head size ~64)
- ffn_dim    = 4 x hidden_dim for gelu/relu; for swiglu 8/3 x hidden_dim rounded up to a multiple of 8
               (same MLP parameter count as 4d with two matrices)
- max_tokens_training = round(token_to_param_ratio x N), N = total parameters (model_size.py),
               token_to_param_ratio defaulting to 20 (Hoffmann et al. 2022)
- batch_size x gradient_accumulation_steps == target_effective_batch_size, batch_size the largest
               divisor that fits gpu_memory_gb under memory_estimate.py's rule
- label = "d<hidden_dim>", folder_name = "default"
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable, Optional

from config import ConfigError, ExperimentConfig, check_known_keys, defaults, validate_experiment
from memory_estimate import activation_bytes_per_sequence, choose_micro_batch
from model_size import param_counts

DEFAULT_FOLDER = "default"


def default_num_layers(hidden_dim: int) -> int:
    return max(2, hidden_dim // 64)


def default_num_heads(hidden_dim: int) -> int:
    upper = max(1, hidden_dim // 64)
    return max(h for h in range(1, upper + 1) if hidden_dim % h == 0)


def default_ffn_dim(hidden_dim: int, activation: str) -> int:
    if activation == "swiglu":
        return 8 * math.ceil(8 * hidden_dim / 3 / 8)
    return 4 * hidden_dim


def _resolve(fields: dict[str, Any]) -> dict[str, Any]:
    """Fill every derived field the caller did not set, in dependency order."""
    d = fields["hidden_dim"]
    fields.setdefault("num_layers", default_num_layers(d))
    fields.setdefault("num_heads", default_num_heads(d))
    fields.setdefault("ffn_dim", default_ffn_dim(d, fields["activation"]))
    draft = dataclasses.replace(ExperimentConfig(label="draft", folder_name="draft"),
                                **{k: v for k, v in fields.items() if k not in ("label", "folder_name")})
    counts = param_counts(draft)
    fields.setdefault("max_tokens_training", round(fields["token_to_param_ratio"] * counts.total))
    if "batch_size" not in fields or "gradient_accumulation_steps" not in fields:
        per_sequence = activation_bytes_per_sequence(d, fields["num_layers"], fields["num_heads"],
                                                     fields["seq_length"], fields["vocab_size"])
        batch_size, accum = choose_micro_batch(fields["target_effective_batch_size"], counts.total,
                                               per_sequence, fields["gpu_memory_gb"])
        if "batch_size" in fields:  # user fixed the micro-batch: derive accumulation from it
            batch_size = fields["batch_size"]
            accum = max(1, fields["target_effective_batch_size"] // batch_size)
        elif "gradient_accumulation_steps" in fields:
            accum = fields["gradient_accumulation_steps"]
            batch_size = max(1, fields["target_effective_batch_size"] // accum)
        fields["batch_size"], fields["gradient_accumulation_steps"] = batch_size, accum
    return fields


def gen_experim(hidden_dim: int, label: Optional[str] = None, folder_name: Optional[str] = None,
                **overrides: Any) -> list[dict[str, Any]]:
    """One fully resolved, validated experiment as a one-element list (compose studies with +).

    Deterministic and silent; raises ConfigError for unknown fields or invalid values.
    """
    check_known_keys(overrides)
    fields = {**defaults(), "hidden_dim": hidden_dim, **overrides}
    for derived in ("num_layers", "num_heads", "ffn_dim", "max_tokens_training", "batch_size",
                    "gradient_accumulation_steps"):
        if derived not in overrides:
            fields.pop(derived, None)
    if not isinstance(hidden_dim, int) or isinstance(hidden_dim, bool) or hidden_dim <= 0:
        raise ConfigError(f"hidden_dim={hidden_dim!r} must be a positive int")
    fields["label"] = label if label is not None else f"d{hidden_dim}"
    fields["folder_name"] = folder_name if folder_name is not None else DEFAULT_FOLDER
    return [validate_experiment(_resolve(fields)).to_dict()]


def with_overrides(experiment: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of a resolved experiment with some fields changed, re-deriving what depends on them.

    Fields that depend on a changed one are re-derived unless ``changes`` sets them too: depth,
    heads and ffn_dim when the width changes; token budget and micro-batch when anything that
    changes the model size or batch memory changes. Everything else keeps its resolved value.
    """
    check_known_keys(changes)
    base = {k: v for k, v in experiment.items() if k not in ("hidden_dim", "label", "folder_name")}
    reresolve = set(changes) & {"hidden_dim", "activation", "token_to_param_ratio", "seq_length", "vocab_size",
                                "target_effective_batch_size", "gpu_memory_gb", "tie_embeddings",
                                "num_layers", "num_heads", "ffn_dim"}
    if reresolve:
        derived = {"max_tokens_training", "batch_size", "gradient_accumulation_steps"}
        if {"hidden_dim", "activation"} & set(changes):
            derived |= {"ffn_dim"}
        if "hidden_dim" in changes:
            derived |= {"num_layers", "num_heads"}
        base = {k: v for k, v in base.items() if k not in derived}
    merged = {**base, **changes}
    hidden_dim = merged.pop("hidden_dim", experiment["hidden_dim"])
    label = merged.pop("label", experiment["label"])
    folder_name = merged.pop("folder_name", experiment["folder_name"])
    return gen_experim(hidden_dim, label=label, folder_name=folder_name, **merged)[0]


def format_lr(lr: float) -> str:
    return f"{lr:g}"


def create_multi_lr_experiments(experiments: Iterable[dict[str, Any]],
                                learning_rates: Iterable[float]) -> list[dict[str, Any]]:
    """Each experiment at each learning rate: label '<label>_lr_<lr>', folder '<folder>_lr_sweep'."""
    return [with_overrides(exp, learning_rate=float(lr), label=f"{exp['label']}_lr_{format_lr(lr)}",
                           folder_name=f"{exp['folder_name']}_lr_sweep")
            for exp in experiments for lr in learning_rates]


def create_isoflop_experiments(experiments: Iterable[dict[str, Any]],
                               flop_budgets: Iterable[float]) -> list[dict[str, Any]]:
    """Each experiment at each compute budget C (Approach 2 design): max_tokens_training = C / (6 N),
    label '<label>_C<C>' (e.g. d32_C1e+11), same folder."""
    runs = []
    for exp in experiments:
        total_params = param_counts(validate_experiment(exp)).total
        for budget in flop_budgets:
            tokens = round(float(budget) / (6 * total_params))
            if tokens < 1:
                raise ConfigError(f"flop budget {budget:g} is too small for {exp['label']} "
                                  f"({total_params} parameters): it buys less than one token")
            runs.append(with_overrides(exp, max_tokens_training=tokens, label=f"{exp['label']}_C{budget:.0e}"))
    return runs


def create_multi_seed_experiments(experiments: Iterable[dict[str, Any]], seeds: Iterable[int],
                                  which: tuple[str, ...] = ("model_seed", "batch_seed")) -> list[dict[str, Any]]:
    """Each experiment at each seed (setting every field in ``which``): label '<label>_s<seed>'."""
    for name in which:
        if name not in ("data_seed", "model_seed", "batch_seed"):
            raise ConfigError(f"seed field {name!r} is not one of data_seed, model_seed, batch_seed")
    return [with_overrides(exp, label=f"{exp['label']}_s{seed}", **{name: int(seed) for name in which})
            for exp in experiments for seed in seeds]
