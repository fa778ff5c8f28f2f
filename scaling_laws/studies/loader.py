"""Where studies come from: experiment_definitions.py, plus an optional ``--definitions FILE``,
and the one place they become typed configs (``load_study``).

The built-in definitions are the root module ``experiment_definitions``, imported by name:
like a --definitions file it is the user's input to this package, not a layer below it.

A definitions file is plain Python that either registers studies with the ``@study`` decorator
of experiment_definitions or defines a ``STUDIES`` dict of name -> function returning experiments:

    from experiment_definitions import study
    from experiment_utils import gen_experim

    @study("MY_STUDY")
    def my_study():
        return gen_experim(16, folder_name="MY_STUDY", max_tokens_training=8192)
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import re
import sys
import traceback
from pathlib import Path
from typing import Optional

from scaling_laws.migration import study_hint
from scaling_laws.config import ConfigError, ExperimentConfig, parse_override
from scaling_laws.data import DataError
from scaling_laws.data.spec import run_epochs
from scaling_laws.studies import registry
from scaling_laws.studies.build import with_overrides
from scaling_laws.validate import validate_experiment

BUILTIN_DEFINITIONS = "experiment_definitions"  # the root module holding the named studies
StudyBuilders = dict[str, registry.StudyBuilder]
STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # becomes a Slurm job name and file names


def _exec_definitions(path: Path) -> StudyBuilders:
    """Run a definitions file with @study registering into a fresh dict; returns its studies."""
    spec = importlib.util.spec_from_file_location(f"definitions_{abs(hash(path.resolve()))}", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"--definitions {str(path)!r} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    builtin_studies()  # registered first, so that the file's own @study calls land apart from them
    with registry.collecting() as registered:
        try:
            spec.loader.exec_module(module)
        except Exception as error:  # noqa: BLE001 - any error in the user's file, said with its line
            raise ConfigError(f"--definitions {path} failed{_at_line(error, str(path))}: "
                              f"{_describe(error)}") from error
    own = getattr(module, "STUDIES", registered)
    return {**registered, **(own if isinstance(own, dict) else {})}


def builtin_studies() -> StudyBuilders:
    """The studies of experiment_definitions.py."""
    try:
        importlib.import_module(BUILTIN_DEFINITIONS)
    except Exception as error:  # noqa: BLE001 - the user's file, said with its line
        raise ConfigError(f"{BUILTIN_DEFINITIONS}.py failed{_at_line(error, _source_of(error))}: "
                          f"{_describe(error)}") from error
    return dict(registry.STUDIES)


def _source_of(error: BaseException) -> str:
    """The file of experiment_definitions.py in ``error``'s traceback (it failed while importing)."""
    if isinstance(error, SyntaxError):
        return error.filename or ""
    frames = [frame.filename for frame in traceback.extract_tb(error.__traceback__)
              if Path(frame.filename).name == f"{BUILTIN_DEFINITIONS}.py"]
    return frames[-1] if frames else ""


def load_studies(definitions: Optional[str] = None) -> StudyBuilders:
    """The built-in studies, plus those of the definitions file if one is given."""
    studies = builtin_studies()
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


def check_unique_runs(configs: list[ExperimentConfig]) -> None:
    """Two experiments with one folder and label would write the same files."""
    seen: dict[tuple[str, str], int] = {}
    for index, cfg in enumerate(configs):
        key = (cfg.folder_name, cfg.label)
        if key in seen:
            raise ConfigError(f"experiments {seen[key]} and {index} are both {key[0]}/{key[1]}: "
                              "give every experiment of a study its own label")
        seen[key] = index


def check_study_name(name: str) -> None:
    if not STUDY_NAME.match(name):
        raise ConfigError(f"study name {name!r} is not safe for Slurm job names and files: use 1-64 letters, "
                          "digits and ._- starting with a letter or digit")


def _describe(error: BaseException) -> str:
    return str(error) if isinstance(error, ConfigError) else f"{type(error).__name__}: {error}"


def _at_line(error: BaseException, filename: str) -> str:
    """' at line N' of the deepest frame of ``error`` in ``filename`` (the user's file), or ''."""
    if isinstance(error, SyntaxError) and error.filename == filename:
        return f" at line {error.lineno}"
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__) if frame.filename == filename]
    return f" at line {lines[-1]}" if lines else ""


def build_study(build: registry.StudyBuilder, changes: dict, name: str = "") -> list[ExperimentConfig]:
    """A study's experiments as typed configs, with ``changes`` applied to each and re-derived.
    Any error names the study, and the line of the definitions file where it was raised."""
    code = getattr(build, "__code__", None)
    where = f"study {name!r}" + (f" ({code.co_filename})" if code else "")
    try:
        experiments = build()
    except Exception as error:  # noqa: BLE001 - a broken study definition, said with its line
        raise ConfigError(f"{where} failed{_at_line(error, code.co_filename if code else '')}: "
                          f"{_describe(error)}") from error
    if not isinstance(experiments, list):
        raise ConfigError(f"{where} must return a list of experiments (gen_experim(...) + ...), "
                          f"got {type(experiments).__name__}")
    for index, experiment in enumerate(experiments):
        if not isinstance(experiment, dict):
            raise ConfigError(f"{where}: item {index} of the study's list is a {type(experiment).__name__}, not an "
                              "experiment dict; gen_experim returns a one-element list, so join with + "
                              "(gen_experim(8) + gen_experim(16)), not [gen_experim(8), gen_experim(16)]")
    try:
        if changes:
            experiments = [with_overrides(exp, **changes) for exp in experiments]
        configs = [validate_experiment(exp) for exp in experiments]
        check_unique_runs(configs)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from error
    return configs


def format_epochs(value: float) -> str:
    return f"{value:.3g}" if value < 1000 else f"{value:,.0f}"


def _epochs_or_zero(cfg: ExperimentConfig) -> float:
    """Its epochs, or 0 when its dataset cannot be read (that problem is reported where it matters)."""
    try:
        return run_epochs(cfg)
    except DataError:
        return 0.0


def epoch_warning(name: str, configs: list[ExperimentConfig]) -> Optional[str]:
    """A warning when runs of the study pass over their training split more than warn_above_epochs times."""
    over = [(cfg, epochs) for cfg in configs if (epochs := _epochs_or_zero(cfg)) > cfg.warn_above_epochs]
    if not over:
        return None
    listed = ", ".join(f"{cfg.label} {format_epochs(epochs)}" for cfg, epochs in over[:6])
    listed += ", ..." if len(over) > 6 else ""
    return (f"{len(over)} of {len(configs)} runs of {name} pass over their training split more than warn_above_epochs="
            f"{over[0][0].warn_above_epochs:g} times (epochs: {listed}): their loss measures memorisation as much as "
            "learning; train on a larger dataset (python -m scaling_laws.data.prepare), lower max_tokens_training, "
            "or raise warn_above_epochs")


def load_study(name: str, overrides: list[str] = (), definitions: Optional[str] = None) -> list[ExperimentConfig]:
    """The study's fully resolved, validated experiments, ``key=value`` overrides applied.

    Warns on stderr when runs would repeat their data more than warn_above_epochs times.
    """
    studies = load_studies(definitions)
    if name not in studies:
        close = difflib.get_close_matches(name, studies, n=1)
        hint = study_hint(name, studies) or (f"did you mean {close[0]!r}?" if close else "")
        raise ConfigError(f"unknown study {name!r}; {hint + '; ' if hint else ''}known studies: "
                          f"{', '.join(sorted(studies))}")
    check_study_name(name)
    configs = build_study(studies[name], dict(parse_override(text) for text in overrides), name)
    warning = epoch_warning(name, configs)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return configs
