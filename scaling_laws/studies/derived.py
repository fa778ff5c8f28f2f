"""The one table of derived fields: what each depends on and its rule.

gen_experim fills every derived field the caller did not set (``resolve``); with_overrides
derives again the derived fields that depend, directly or through another derived field, on a
field whose value changed (``rederive``; ``stale_fields`` names every field that may be). Rules
run in table order, so a rule may read fields derived above it.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable

from scaling_laws.data import DataError
from scaling_laws.data.spec import BYTE_VOCAB_SIZE, summarize
from scaling_laws.counting import per_rank_batch
from scaling_laws.models import architecture, param_counts
from scaling_laws.models.memory import choose_for_fields
from scaling_laws.validate import defer_problem

Fields = dict[str, Any]

# Fields that change the model's size or its memory per sequence.
SHAPE_FIELDS = ("architecture", "hidden_dim", "num_layers", "num_heads", "ffn_dim", "activation", "vocab_size",
                "seq_length", "tie_embeddings", "norm", "norm_placement", "position_encoding", "bias")

# Kaplan et al. 2020 eq. 4.4: overfitting stays negligible while D >= 5 x 10^3 N^0.74 (N non-embedding).
KAPLAN_TOKENS_COEFFICIENT = 5.0e3
KAPLAN_TOKENS_EXPONENT = 0.74


@dataclass(frozen=True)
class Derived:
    """Fields derived together by one rule from the fields they depend on."""

    names: tuple[str, ...]  # the fields this rule sets
    depends_on: tuple[str, ...]  # a change to any of these makes them stale
    rule: Callable[[Fields], Fields]  # resolved fields so far -> values for ``names``
    why: str  # the rule in words (README, docstrings)


def _shape(name: str) -> Callable[[Fields], Fields]:
    """A rule taking ``name`` from the architecture's default shape for the width."""
    return lambda fields: {name: architecture(fields["architecture"]).default_shape(fields)[name]}


def _vocabulary(fields: Fields) -> Fields:
    """The dataset's vocabulary: meta.json's for a prepared dataset, 256 for byte-level text.

    A dataset that is gone is an error, except under ``--status`` (validate.problems_deferred): there the
    run is still listed, with the problem, and the byte vocabulary stands in."""
    try:
        return {"vocab_size": summarize(fields["dataset"], fields["val_fraction"], fields["data_seed"]).vocab_size}
    except DataError as error:
        if defer_problem((fields["folder_name"], fields["label"]), str(error)):
            return {"vocab_size": BYTE_VOCAB_SIZE}
        raise


def _token_budget(fields: Fields) -> Fields:
    """chinchilla: token_to_param_ratio x N (total); kaplan: 5000 x N^0.74 (N non-embedding)."""
    counts = param_counts(SimpleNamespace(**fields))
    if fields["token_rule"] == "kaplan":
        return {"max_tokens_training": round(KAPLAN_TOKENS_COEFFICIENT * counts.non_embedding ** KAPLAN_TOKENS_EXPONENT)}
    return {"max_tokens_training": round(fields["token_to_param_ratio"] * counts.total)}


def _micro_batch(fields: Fields) -> Fields:
    """The largest micro-batch that fits, each rank taking target / world_size sequences of a step;
    a user-fixed batch_size or accumulation is kept."""
    target = per_rank_batch(fields["target_effective_batch_size"], fields["world_size"])
    if "batch_size" in fields:
        return {"gradient_accumulation_steps": max(1, target // fields["batch_size"])}
    if "gradient_accumulation_steps" in fields:
        return {"batch_size": max(1, target // fields["gradient_accumulation_steps"])}
    batch_size, accum = choose_for_fields(fields, fields["gpu_memory_gb"])
    return {"batch_size": batch_size, "gradient_accumulation_steps": accum}


DERIVED: tuple[Derived, ...] = (
    Derived(("vocab_size",), ("dataset",), _vocabulary,
            "the dataset's vocabulary: vocab_size in its meta.json (prepared data), 256 for byte-level text"),
    Derived(("num_layers",), ("architecture", "hidden_dim"), _shape("num_layers"),
            "the architecture's default depth for the width (transformer: max(2, hidden_dim // 64))"),
    Derived(("num_heads",), ("architecture", "hidden_dim"), _shape("num_heads"),
            "the architecture's default heads (transformer: head size about 64)"),
    Derived(("ffn_dim",), ("architecture", "hidden_dim", "activation"), _shape("ffn_dim"),
            "the architecture's default MLP width (transformer: 4d, or 8d/3 for the gated swiglu, geglu, glu)"),
    Derived(("max_tokens_training",), SHAPE_FIELDS + ("token_rule", "token_to_param_ratio"), _token_budget,
            "token_rule=chinchilla: round(token_to_param_ratio x N), N = total parameters; token_rule=kaplan: "
            "round(5000 x N^0.74), N = non-embedding parameters (Kaplan et al. 2020 eq. 4.4)"),
    Derived(("batch_size", "gradient_accumulation_steps"),
            SHAPE_FIELDS + ("target_effective_batch_size", "world_size", "gpu_memory_gb", "target_gpu_memory_usage",
                            "dtype", "compile"), _micro_batch,
            "largest micro-batch dividing target_effective_batch_size / world_size whose predicted peak "
            "(models/memory.py) fits target_gpu_memory_usage x gpu_memory_gb"),
)
DERIVED_NAMES = frozenset(name for entry in DERIVED for name in entry.names)


def resolve(fields: Fields) -> Fields:
    """A copy of ``fields`` with every derived field the caller did not set filled in, in table order."""
    fields = dict(fields)
    for entry in DERIVED:
        missing = [name for name in entry.names if name not in fields]
        if missing:
            values = entry.rule(fields)
            fields.update({name: values[name] for name in missing})
    return fields


def stale_fields(changed: set[str]) -> set[str]:
    """Derived fields that may be derived again when ``changed`` fields change (unless ``changed`` sets them too)."""
    moved, stale = set(changed), set()
    for entry in DERIVED:
        if moved & set(entry.depends_on):
            stale |= set(entry.names) - set(changed)
            moved |= set(entry.names)
    return stale


def rederive(resolved: Fields, changes: Fields) -> Fields:
    """``resolved`` with ``changes`` applied, and each derived field ``changes`` does not set derived again when
    a field it depends on now holds another value, in table order. A field derived again to the value it had
    moves nothing further: pointing a study at another byte-level corpus keeps vocab_size 256, and so keeps the
    token budgets (an IsoFLOP design's included) that depend on it."""
    fields = {**resolved, **changes}
    moved = {name for name, value in changes.items() if resolved.get(name) != value}
    for entry in DERIVED:
        names = [name for name in entry.names if name not in changes]
        if not names or not moved & set(entry.depends_on):
            continue
        values = entry.rule({k: v for k, v in fields.items() if k not in names})
        for name in names:
            fields[name] = values[name]
            if values[name] != resolved.get(name):
                moved.add(name)
    return fields
