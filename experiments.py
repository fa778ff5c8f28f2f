"""Command line: list, run, check and submit the experiments of a named study.

    python experiments.py --list
    python experiments.py DEMO --list
    python experiments.py DEMO --status                # complete/running/failed/... from result files
    python experiments.py DEMO --index 3               # index defaults to $SLURM_ARRAY_TASK_ID
    python experiments.py DEMO --all [--rerun] [key=value ...]
    python experiments.py --manifest FILE --index 3    # what a submit_job.sh array task runs
    python experiments.py DEMO --submit [--slurm-time 60 ...] [--wait]   # Slurm through submitit

Studies come from experiment_definitions.py, plus --definitions FILE.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

from config import ConfigError
from manifest import manifest_experiment
from study_loader import load_studies, load_study
from study_table import format_status_table, format_study_list, format_study_table


class UsageError(Exception):
    """Bad command-line use; printed with the usage line, exit code 2."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="experiments.py", description=__doc__, allow_abbrev=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", nargs="?", help="study name from experiment_definitions.py or --definitions")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for every experiment")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--list", action="store_true", help="list studies, or the experiments of STUDY")
    action.add_argument("--status", action="store_true", help="status of each run of STUDY, from its files")
    action.add_argument("--index", type=int, help="run experiment INDEX (default: $SLURM_ARRAY_TASK_ID)")
    action.add_argument("--all", action="store_true", help="run every experiment here, skipping complete ones")
    action.add_argument("--submit", action="store_true", help="submit STUDY to Slurm through submitit")
    parser.add_argument("--rerun", action="store_true", help="run even if already complete (discarding it)")
    parser.add_argument("--definitions", metavar="FILE", help="a Python file defining more studies")
    parser.add_argument("--manifest", metavar="FILE", help="run entry --index of this manifest (no STUDY)")
    slurm = parser.add_argument_group("submitit (with --submit)")
    slurm.add_argument("--slurm-partition", help="partition (default: the cluster's default)")
    slurm.add_argument("--slurm-time", type=int, default=60, metavar="MIN", help="time limit per task in minutes")
    slurm.add_argument("--slurm-array-parallelism", type=int, default=None, metavar="K", help="at most K tasks at once")
    slurm.add_argument("--slurm-cpus", type=int, default=1, metavar="N", help="CPUs per task (default 1)")
    slurm.add_argument("--slurm-gpus", type=int, default=0, metavar="N", help="GPUs per task (default 0)")
    slurm.add_argument("--slurm-mem-gb", type=float, default=None, metavar="G", help="memory per task in GB")
    slurm.add_argument("--wait", action="store_true", help="block until every task ends and report each")
    return parser.parse_intermixed_args(argv)  # overrides may follow options


def task_index(index: Optional[int]) -> int:
    """--index, else $SLURM_ARRAY_TASK_ID."""
    if index is not None:
        return index
    task_id = os.environ.get("SLURM_ARRAY_TASK_ID")
    if task_id is None:
        raise UsageError("give --index N, --all or --list (no $SLURM_ARRAY_TASK_ID is set)")
    return int(task_id)


def resolve_index(index: Optional[int], count: int) -> int:
    index = task_index(index)
    if not 0 <= index < count:
        raise UsageError(f"index {index} is out of range: this study has {count} experiments, valid 0..{count - 1}")
    return index


def run_manifest_entry(args: argparse.Namespace) -> int:
    if args.study is not None or args.all or args.list or args.status or args.submit:
        raise UsageError("--manifest runs one entry: give only --index N (or $SLURM_ARRAY_TASK_ID)")
    experiment = manifest_experiment(args.manifest, task_index(args.index))
    from runner import run_one  # torch is imported only when something runs
    return run_one(experiment, rerun=args.rerun)


def dispatch(args: argparse.Namespace) -> int:
    if args.manifest is not None:
        return run_manifest_entry(args)
    if args.study is None:
        if not args.list:
            raise UsageError("name a study (python experiments.py --list shows them)")
        print(format_study_list(load_studies(args.definitions)))
        return 0
    experiments = load_study(args.study, args.overrides, args.definitions)
    if args.list:
        print(format_study_table(experiments))
        return 0
    if args.status:
        print(format_status_table(experiments))
        return 0
    if args.submit:
        from submitit_backend import SubmititOptions, submit_study
        return submit_study(args.study, experiments, SubmititOptions.from_args(args), rerun=args.rerun,
                            wait=args.wait)
    from runner import run_all, run_one  # torch is imported only when something runs
    if args.all:
        return run_all(experiments, rerun=args.rerun)
    return run_one(experiments[resolve_index(args.index, len(experiments))], rerun=args.rerun)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return dispatch(args)
    except UsageError as error:
        print(f"usage error: {error}", file=sys.stderr)
        return 2
    except (ConfigError, KeyError) as error:
        print(f"error: {error.args[0] if error.args else error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
