"""Manifests: the fully resolved experiments of one submission, frozen at submit time.

Array task T (SLURM_ARRAY_TASK_ID + offset) runs the entries ``tasks[T]`` of its manifest one
after another: one entry per task by default, entries T, T+N, T+2N, ... with -N. Editing
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
from scaling_laws.submit.selection import task_shares
from scaling_laws.validate import validate_experiment

MANIFEST_VERSION = 2  # 2 added "tasks"; version 1 (one entry per task) is still read
MANIFESTS_DIR = ".manifests"


def manifest_dir(folder_name: str, root: Optional[Path] = None) -> Path:
    return Path(root or results_root()) / folder_name / MANIFESTS_DIR


def build_manifest(study: str, configs: list[ExperimentConfig], study_indices: list[int],
                   definitions: Optional[str] = None, overrides: tuple[str, ...] = (),
                   created: Optional[datetime] = None, tasks: Optional[int] = None) -> dict:
    """The manifest's content: the experiments as dicts, where each came from in the study, and
    which entries each array task runs (``tasks`` = N shares them as -N does; None: one each)."""
    if not configs:
        raise ConfigError("a manifest needs at least one experiment")
    check_unique_runs(configs)
    created = created or datetime.now(timezone.utc)
    return {"version": MANIFEST_VERSION, "study": study, "created": created.isoformat(timespec="microseconds"),
            "definitions": None if definitions is None else str(Path(definitions).resolve()),
            "overrides": list(overrides), "study_indices": list(study_indices),
            "tasks": task_shares(len(configs), tasks), "experiments": [cfg.to_dict() for cfg in configs]}


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
    version = manifest.get("version")
    if version == 1:  # submitted before -N shared tasks: task i ran entry i
        manifest = {**manifest, "tasks": task_shares(len(manifest["experiments"]))}
    elif version != MANIFEST_VERSION:
        raise ConfigError(f"{path} has manifest version {version!r}; this code reads versions 1 and "
                          f"{MANIFEST_VERSION}")
    return manifest


def manifest_share(path: Path, task: int) -> list[dict]:
    """The experiments (as the dicts the manifest holds) that array task ``task`` runs, in order."""
    manifest = read_manifest(path)
    tasks = manifest["tasks"]
    if not 0 <= task < len(tasks):
        raise ConfigError(f"task {task} is out of range: {path} has {len(tasks)} tasks, valid 0..{len(tasks) - 1}")
    return [manifest["experiments"][entry] for entry in tasks[task]]


def task_assignments(configs: list[ExperimentConfig],
                     root: Optional[Path] = None) -> dict[tuple[str, str], tuple[int, int]]:
    """(folder, label) -> (task, number of tasks) in the newest manifest that submitted the run."""
    assigned: dict[tuple[str, str], tuple[int, int]] = {}
    for folder in sorted({cfg.folder_name for cfg in configs}):
        manifests = sorted(manifest_dir(folder, root).glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for path in manifests:
            try:
                manifest = read_manifest(path)
            except (ConfigError, ValueError, KeyError, OSError):  # not ours, or from another version: no task to show
                continue
            for task, entries in enumerate(manifest["tasks"]):
                for entry in entries:
                    exp = manifest["experiments"][entry]
                    assigned.setdefault((exp["folder_name"], exp["label"]), (task, len(manifest["tasks"])))
    return assigned
