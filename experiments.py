"""Command line: list, run and skip experiments of a named study.

    python experiments.py --list
    python experiments.py DEMO --list
    python experiments.py DEMO --index 3          # index defaults to $SLURM_ARRAY_TASK_ID
    python experiments.py DEMO --all [--rerun] [key=value ...]
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

from config import ConfigError, parse_override
from experiment_definitions import STUDIES, get_study
from experiment_utils import with_overrides
from study_table import format_study_list, format_study_table


class UsageError(Exception):
    """Bad command-line use; printed with the usage line, exit code 2."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="experiments.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", nargs="?", help="study name from experiment_definitions.py")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for every experiment")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--list", action="store_true", help="list studies, or the experiments of STUDY")
    action.add_argument("--index", type=int, help="run experiment INDEX (default: $SLURM_ARRAY_TASK_ID)")
    action.add_argument("--all", action="store_true", help="run every experiment here, skipping complete ones")
    parser.add_argument("--rerun", action="store_true", help="run even if already complete (discarding it)")
    return parser.parse_intermixed_args(argv)  # overrides may follow options


def load_study(name: str, overrides: list[str]) -> list[dict]:
    """The study's experiments with command-line overrides applied (and validated)."""
    experiments = get_study(name)
    changes = dict(parse_override(text) for text in overrides)
    return [with_overrides(exp, **changes) for exp in experiments] if changes else experiments


def resolve_index(index: Optional[int], count: int) -> int:
    if index is None:
        task_id = os.environ.get("SLURM_ARRAY_TASK_ID")
        if task_id is None:
            raise UsageError("give --index N, --all or --list (no $SLURM_ARRAY_TASK_ID is set)")
        index = int(task_id)
    if not 0 <= index < count:
        raise UsageError(f"index {index} is out of range: this study has {count} experiments, valid 0..{count - 1}")
    return index


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.study is None:
            if not args.list:
                raise UsageError("name a study (python experiments.py --list shows them)")
            print(format_study_list(STUDIES))
            return 0
        experiments = load_study(args.study, args.overrides)
        if args.list:
            print(format_study_table(experiments))
            return 0
        from runner import run_all, run_one  # torch is imported only when something runs
        if args.all:
            return run_all(experiments, rerun=args.rerun)
        return run_one(experiments[resolve_index(args.index, len(experiments))], rerun=args.rerun)
    except UsageError as error:
        print(f"usage error: {error}", file=sys.stderr)
        return 2
    except (ConfigError, KeyError) as error:
        print(f"error: {error.args[0] if error.args else error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
