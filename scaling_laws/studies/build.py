"""Building studies: gen_experim and the sweep helpers behind experiment_utils.py.

Pure functions returning lists of fully resolved, validated experiment dicts (the user's edge:
studies compose with ``+``). Which fields are derived, and how, is studies/derived.py.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional

from scaling_laws.config import ConfigError, check_given_fields, defaults
from scaling_laws.migration import gpu_type_hint
from scaling_laws.models import param_counts
from scaling_laws.studies.derived import rederive, resolve
from scaling_laws.validate import validate_experiment

DEFAULT_FOLDER = "default"
IDENTITY = ("hidden_dim", "label", "folder_name")
USER_BATCH_FIELDS = ("batch_size", "gradient_accumulation_steps")  # set by the user: kept on every device


def _fixed_if_user_set(given: dict[str, Any]) -> dict[str, Any]:
    """``given`` with micro_batch_fixed=True when it sets the micro-batch or the accumulation itself."""
    if "micro_batch_fixed" in given or not set(USER_BATCH_FIELDS) & given.keys():
        return given
    return {**given, "micro_batch_fixed": True}


def gen_experim(hidden_dim: int, label: Optional[str] = None, folder_name: Optional[str] = None,
                **overrides: Any) -> list[dict[str, Any]]:
    """One fully resolved, validated experiment as a one-element list (compose studies with +).

    Deterministic and silent; raises ConfigError for unknown fields or invalid values.
    """
    check_given_fields(overrides)
    gpu_type = gpu_type_hint(label)  # the original's gen_experim(hidden_dim, gpu_type="V100")
    if gpu_type:
        raise ConfigError(f"gen_experim({hidden_dim!r}, {label!r}): {gpu_type}")
    if not isinstance(hidden_dim, int) or isinstance(hidden_dim, bool) or hidden_dim <= 0:
        raise ConfigError(f"hidden_dim={hidden_dim!r} must be a positive int")
    _check_mup_depth(overrides)
    fields = {**defaults(), **_fixed_if_user_set(overrides), "hidden_dim": hidden_dim,
              "label": label if label is not None else f"d{hidden_dim}",
              "folder_name": folder_name if folder_name is not None else DEFAULT_FOLDER}
    return [validate_experiment(resolve(fields)).to_dict()]


def _check_mup_depth(overrides: dict[str, Any]) -> None:
    """Width-only muP transfers across width at one depth; the derived depth grows with width, so refuse it."""
    if overrides.get("use_mup") and not overrides.get("completep_alpha") and "num_layers" not in overrides:
        raise ConfigError("use_mup=True transfers hyperparameters across width only, but num_layers is derived from "
                          "hidden_dim (it grows with width): give num_layers explicitly (the same at every width), "
                          "or set completep_alpha=1.0 and completep_base_depth (CompleteP transfers across depth)")


def with_overrides(experiment: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of a resolved experiment with some fields changed, re-deriving what depends on them.

    A derived field (studies/derived.py) that depends on a field whose value changed, directly or
    through another derived field, is derived again unless ``changes`` sets it too; every other
    field keeps its resolved value.
    """
    check_given_fields(changes)
    merged = rederive(experiment, _fixed_if_user_set(changes))
    kept = {k: v for k, v in merged.items() if k not in IDENTITY}
    return gen_experim(merged["hidden_dim"], label=merged["label"], folder_name=merged["folder_name"], **kept)[0]


def format_lr(lr: float) -> str:
    return f"{lr:g}"


def create_multi_lr_experiments(experiments: Iterable[dict[str, Any]],
                                learning_rates: Iterable[float]) -> list[dict[str, Any]]:
    """Each experiment at each learning rate: label '<label>_lr_<lr>', folder '<folder>_lr_sweep'."""
    return [with_overrides(exp, learning_rate=float(lr), label=f"{exp['label']}_lr_{format_lr(lr)}",
                           folder_name=f"{exp['folder_name']}_lr_sweep")
            for exp in experiments for lr in learning_rates]


def format_budget(budget: float) -> str:
    """A FLOP budget in the shortest scientific form that keeps every significant digit:
    1e+15, 1.2e+15, 2.5e+18 (a fixed '.0e' made 1.5e18, 2e18 and 2.5e18 all 'C2e+18')."""
    mantissa, exponent = f"{float(budget):.14e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{exponent[0]}{int(exponent[1:])}"


def create_isoflop_experiments(experiments: Iterable[dict[str, Any]],
                               flop_budgets: Iterable[float]) -> list[dict[str, Any]]:
    """Each experiment at each compute budget C (Approach 2 design): max_tokens_training = C / (6 N),
    label '<label>_C<C>' (e.g. d32_C1e+11, d32_C1.2e+11: format_budget), same folder."""
    flop_budgets = list(flop_budgets)
    if len({format_budget(b) for b in flop_budgets}) < len(flop_budgets):
        raise ConfigError(f"flop_budgets={flop_budgets!r} repeat a budget; give each budget once")
    runs = []
    for exp in experiments:
        total_params = param_counts(validate_experiment(exp)).total
        for budget in flop_budgets:
            tokens = round(float(budget) / (6 * total_params))
            if tokens < 1:
                raise ConfigError(f"flop budget {budget:g} is too small for {exp['label']} "
                                  f"({total_params} parameters): it buys less than one token")
            runs.append(with_overrides(exp, max_tokens_training=tokens, label=f"{exp['label']}_C{format_budget(budget)}"))
    return runs


SEED_FIELDS = ("data_seed", "model_seed", "batch_seed")


def create_multi_seed_experiments(experiments: Iterable[dict[str, Any]], seeds: Iterable[int],
                                  which: tuple[str, ...] = ("model_seed", "batch_seed")) -> list[dict[str, Any]]:
    """Each experiment at each seed (setting every field in ``which``): label '<label>_s<seed>'."""
    for name in which:
        if name not in SEED_FIELDS:
            raise ConfigError(f"seed field {name!r} is not one of {', '.join(SEED_FIELDS)}")
    return [with_overrides(exp, label=f"{exp['label']}_s{seed}", **{name: int(seed) for name in which})
            for exp in experiments for seed in seeds]
