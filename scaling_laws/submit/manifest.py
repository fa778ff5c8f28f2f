"""Manifests: the fully resolved experiments of one submission, frozen at submit time.

An array task runs entry SLURM_ARRAY_TASK_ID + offset of its manifest, so editing
experiment_definitions.py (or the definitions file) while tasks wait in the queue changes
nothing. Manifests live in results/<folder>/.manifests/<study>-<UTC time>.json, <folder>
being the first experiment's folder, and are written atomically.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from scaling_laws.config import ConfigError, ExperimentConfig
from scaling_laws.results_layout import atomic_write_json, read_json, results_root
from scaling_laws.studies.loader import check_unique_runs
from scaling_laws.validate import validate_experiment

MANIFEST_VERSION = 1
MANIFESTS_DIR = ".manifests"


def manifest_dir(folder_name: str, root: Optional[Path] = None) -> Path:
    return Path(root or results_root()) / folder_name / MANIFESTS_DIR


def build_manifest(study: str, configs: list[ExperimentConfig], study_indices: list[int],
                   definitions: Optional[str] = None, overrides: tuple[str, ...] = (),
                   created: Optional[datetime] = None) -> dict:
    """The manifest's content: the experiments as dicts, and where each came from in the study."""
    if not configs:
        raise ConfigError("a manifest needs at least one experiment")
    check_unique_runs(configs)
    created = created or datetime.now(timezone.utc)
    return {"version": MANIFEST_VERSION, "study": study, "created": created.isoformat(timespec="microseconds"),
            "definitions": None if definitions is None else str(Path(definitions).resolve()),
            "overrides": list(overrides), "study_indices": list(study_indices),
            "experiments": [cfg.to_dict() for cfg in configs]}


def manifest_path(manifest: dict, root: Optional[Path] = None) -> Path:
    stamp = datetime.fromisoformat(manifest["created"]).strftime("%Y%m%dT%H%M%S.%fZ")
    return manifest_dir(manifest["experiments"][0]["folder_name"], root) / f"{manifest['study']}-{stamp}.json"


def write_manifest(manifest: dict, root: Optional[Path] = None) -> Path:
    """Write atomically (readers never see half a manifest); returns the path."""
    path = manifest_path(manifest, root)
    atomic_write_json(path, manifest)
    return path


def read_manifest(path: Path) -> dict:
    """The manifest at ``path``; ConfigError naming the file if it is missing, unreadable or not a manifest."""
    try:
        manifest = read_json(path)
    except FileNotFoundError:
        raise ConfigError(f"manifest {path} does not exist; submit_job.sh writes manifests under "
                          "results/<folder>/.manifests/") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ConfigError(f"manifest {path} cannot be read as JSON ({type(error).__name__}: {error}); "
                          "submit the study again to write a new one") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("experiments"), list):
        raise ConfigError(f"manifest {path} is not a manifest (no 'experiments' list); submit the study again")
    if manifest.get("version") != MANIFEST_VERSION:
        raise ConfigError(f"{path} has manifest version {manifest.get('version')!r}; this code reads "
                          f"version {MANIFEST_VERSION}")
    return manifest


def manifest_entry(path: Path, index: int) -> dict:
    """Entry ``index`` of the manifest at ``path``, as the dict it holds."""
    experiments = read_manifest(path)["experiments"]
    if not 0 <= index < len(experiments):
        raise ConfigError(f"index {index} is out of range: {path} has {len(experiments)} experiments, "
                          f"valid 0..{len(experiments) - 1}")
    return experiments[index]


def manifest_experiment(path: Path, index: int) -> ExperimentConfig:
    """Entry ``index`` of the manifest at ``path``, validated."""
    return validate_experiment(manifest_entry(path, index))
