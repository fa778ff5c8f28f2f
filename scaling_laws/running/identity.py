"""A run's identity: its label plus every config field that changes its numbers.

Results on disk (CSV, checkpoint, .done marker) belong to the config they were written with, kept
in config_<label>.json. A run whose config differs in any identity field is a different run: it
never resumes those results nor counts them as its own. The attempt refuses and says which
fields changed and the two ways out: a new label, or --rerun all (discard and train again).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Optional

from scaling_laws.config import ConfigError, ExperimentConfig, defaults
from scaling_laws.results_layout import RunPaths, read_json

# Fields that do not change a run's numbers: its names; inputs of derivation rules whose results are
# fields of the identity themselves (max_tokens_training from token_rule); how a step's sequences are split
# into micro-batches on the device (the run re-sizes it for the GPU it lands on, training/memory_fit.py):
# a step trains on the same sequences however it is split (training/data.train_batch), and the global
# batch target_effective_batch_size is in the identity; and world_size: every rank count trains the
# same global batches to the same numbers (tests/test_running_launch.py), so a run may resume on another;
# and cuda_graphs: a graph replays the kernels the compiled step launches, with the same inputs.
NOT_IN_IDENTITY = frozenset({"label", "folder_name", "gpu_memory_gb", "token_to_param_ratio", "token_rule",
                             "target_gpu_memory_usage", "micro_batch_fixed", "batch_size",
                             "gradient_accumulation_steps", "world_size", "cuda_graphs", "force_conservative_cpu"})


class RunMismatch(ConfigError):
    """The run's files were written under another config."""


def identity_fields(config: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``config`` that change the numbers; fields it lacks (older runs) take their default."""
    merged = {**defaults(), **config}
    return {name: value for name, value in sorted(merged.items()) if name not in NOT_IN_IDENTITY}


def identity_hash(config: dict[str, Any]) -> str:
    """A short fingerprint of identity_fields (recorded in config JSON, checkpoint and .done marker)."""
    text = json.dumps(identity_fields(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def identity_changes(recorded: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """'learning_rate 0.003 -> 0.01' for every identity field that differs."""
    old, new = identity_fields(recorded), identity_fields(config)
    return [f"{name} {old.get(name)!r} -> {new.get(name)!r}" for name in sorted(old.keys() | new.keys())
            if old.get(name) != new.get(name)]


def has_results(paths: RunPaths) -> bool:
    """Files that hold training results (a config JSON alone holds none)."""
    return any(path.exists() for path in (paths.done_marker, paths.csv, paths.checkpoint))


def recorded_config(paths: RunPaths) -> Optional[dict[str, Any]]:
    """The config the run's results were written with (config_<label>.json), None if there is none."""
    try:
        return read_json(paths.config_json)["config"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RunMismatch(f"{paths.config_json} cannot be read ({type(error).__name__}); the results beside it "
                          "cannot be matched to a config: pass --rerun all to train this run again") from None


def changes_against_results(paths: RunPaths, cfg: ExperimentConfig) -> list[str]:
    """How ``cfg`` differs from the config of the run's existing results ([] if none or the same)."""
    if not has_results(paths):
        return []
    recorded = recorded_config(paths)
    return [] if recorded is None else identity_changes(recorded, cfg.to_dict())


def mismatch_message(changes: list[str], where: str = "its results") -> str:
    """Why a run may not use the files of its label, and the two ways out."""
    return (f"{where} were written with another config ({'; '.join(changes)}); "
            "not resuming or skipping them. Give the changed experiment a new label, or pass --rerun all to "
            "discard the old results and train it again")


def check_same_run(paths: RunPaths, cfg: ExperimentConfig) -> None:
    """Raise RunMismatch when the run's existing results belong to another config."""
    changes = changes_against_results(paths, cfg)
    if changes:
        raise RunMismatch(mismatch_message(changes))
