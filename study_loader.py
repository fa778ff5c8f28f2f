"""Where studies come from: experiment_definitions.py, plus an optional ``--definitions FILE``.

A definitions file is plain Python that either registers studies with the ``@study`` decorator
of experiment_definitions or defines a ``STUDIES`` dict of name -> function returning experiments:

    from experiment_definitions import study
    from experiment_utils import gen_experim

    @study("MY_STUDY")
    def my_study():
        return gen_experim(16, folder_name="MY_STUDY", max_tokens_training=8192)
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Callable, Optional

import experiment_definitions
from config import ConfigError, parse_override
from experiment_utils import with_overrides

StudyBuilders = dict[str, Callable[[], list[dict]]]
STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # becomes a Slurm job name and file names


def _exec_definitions(path: Path) -> StudyBuilders:
    """Run a definitions file with @study registering into a fresh dict; returns its studies."""
    spec = importlib.util.spec_from_file_location(f"definitions_{abs(hash(path.resolve()))}", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"--definitions {str(path)!r} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    builtin, experiment_definitions.STUDIES = experiment_definitions.STUDIES, {}
    try:
        spec.loader.exec_module(module)
        registered = experiment_definitions.STUDIES
    finally:
        experiment_definitions.STUDIES = builtin
    own = getattr(module, "STUDIES", registered)
    return {**registered, **(own if isinstance(own, dict) else {})}


def load_studies(definitions: Optional[str] = None) -> StudyBuilders:
    """The built-in studies, plus those of the definitions file if one is given."""
    studies = dict(experiment_definitions.STUDIES)
    if definitions is None:
        return studies
    path = Path(definitions)
    if not path.is_file():
        raise ConfigError(f"--definitions {definitions!r} is not a file")
    extra = _exec_definitions(path)
    clashes = sorted(set(extra) & set(studies))
    if clashes:
        raise ConfigError(f"{definitions} defines {', '.join(clashes)}, already defined in "
                          "experiment_definitions.py; rename them")
    return {**studies, **extra}


def check_unique_runs(experiments: list[dict]) -> None:
    """Two experiments with one folder and label would write the same files."""
    seen: dict[tuple[str, str], int] = {}
    for index, exp in enumerate(experiments):
        key = (exp["folder_name"], exp["label"])
        if key in seen:
            raise ConfigError(f"experiments {seen[key]} and {index} are both {key[0]}/{key[1]}: "
                              "give every experiment of a study its own label")
        seen[key] = index


def check_study_name(name: str) -> None:
    if not STUDY_NAME.match(name):
        raise ConfigError(f"study name {name!r} is not safe for Slurm job names and files: use 1-64 letters, "
                          "digits and ._- starting with a letter or digit")


def load_study(name: str, overrides: list[str] = (), definitions: Optional[str] = None) -> list[dict]:
    """The study's fully resolved experiments with ``key=value`` overrides applied (and validated)."""
    studies = load_studies(definitions)
    if name not in studies:
        raise ConfigError(f"unknown study {name!r}; known studies: {', '.join(sorted(studies))}")
    check_study_name(name)
    experiments = studies[name]()
    check_unique_runs(experiments)
    changes = dict(parse_override(text) for text in overrides)
    return [with_overrides(exp, **changes) for exp in experiments] if changes else experiments
