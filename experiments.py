"""Command line: list, run, check and submit the experiments of a named study.

    python experiments.py                              # one small default experiment, here (QUICKSTART)
    python experiments.py --list
    python experiments.py DEMO --list
    python experiments.py DEMO --status                # complete/running/failed/... from result files
    python experiments.py DEMO --index 3               # index defaults to $SLURM_ARRAY_TASK_ID
    python experiments.py DEMO --all [--rerun [failed|all]] [key=value ...]
    python experiments.py --manifest FILE --index 3    # what submit_job.sh's array task 3 runs
    python experiments.py DEMO --submit [-4] [-c 2 --time 1:00:00 --gpus 1 ...] [--wait]   # Slurm via submitit

Studies come from experiment_definitions.py, plus --definitions FILE.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

from scaling_laws.config import ConfigError
from scaling_laws.models import param_counts
from scaling_laws.results_layout import run_paths
from scaling_laws.studies.loader import load_studies, load_study
from scaling_laws.studies.tables import format_status_table, format_study_list, format_study_table
from scaling_laws.submit.guard import SubmitError
from scaling_laws.submit.manifest import manifest_share, task_assignments
from scaling_laws.submit.resources import Resources, add_submission_options, normalize_rerun, normalize_task_count
from scaling_laws.validate import problems_deferred, validate_experiment

DEFAULT_STUDY = "QUICKSTART"  # what `python experiments.py` alone runs: one small experiment, minutes on a CPU


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
    parser.add_argument("--definitions", metavar="FILE", help="a Python file defining more studies")
    parser.add_argument("--manifest", metavar="FILE", help="run array task --index of this manifest (no STUDY)")
    add_submission_options(parser)  # --rerun too: the same words as submit_job.sh
    parser.add_argument("--wait", action="store_true", help="with --submit: block until every task ends, report each")
    parser.add_argument("--entry", type=int, help=argparse.SUPPRESS)  # a packed task's child: one entry of its share
    # overrides may follow options; -4 is --tasks=4 (submit only)
    return parser.parse_intermixed_args(normalize_rerun(normalize_task_count(argv)))


def task_index(index: Optional[int]) -> int:
    """--index, else $SLURM_ARRAY_TASK_ID."""
    if index is not None:
        return index
    task_id = os.environ.get("SLURM_ARRAY_TASK_ID")
    if task_id is None:
        raise UsageError("give --index N, --all or --list (no $SLURM_ARRAY_TASK_ID is set)")
    if not task_id.isdigit():
        raise UsageError(f"SLURM_ARRAY_TASK_ID={task_id!r} is not an array index (a whole number >= 0); "
                         "unset it or give --index N")
    return int(task_id)


def resolve_index(index: Optional[int], count: int) -> int:
    index = task_index(index)
    if not 0 <= index < count:
        raise UsageError(f"index {index} is out of range: this study has {count} experiments, valid 0..{count - 1}")
    return index


def lazy_train(cfg, paths, **kwargs) -> dict:
    """core.train, imported only when an attempt trains: one that is skipped, busy or refused never loads torch.
    A run with world_size > 1 trains on that many ranks (scaling_laws/running/launch.py)."""
    from core import train
    if cfg.world_size > 1:
        from scaling_laws.running.launch import train_on_ranks
        return train_on_ranks(cfg, paths, "core:train", train_here=train, **kwargs)
    return train(cfg, paths, **kwargs)


def run_manifest_task(args: argparse.Namespace) -> int:
    """One array task of a submit_job.sh submission: its share of the manifest, in order."""
    if args.study is not None or args.all or args.list or args.status or args.submit or args.rerun:
        raise UsageError("--manifest runs one array task: give only --index T (or $SLURM_ARRAY_TASK_ID); "
                         "to train runs again, submit with --rerun")
    task = task_index(args.index)
    experiments = manifest_share(args.manifest, task)
    if args.entry is not None:  # one child of a packed task: the parent requeues the task, not the child
        return run_entries(experiments[args.entry:args.entry + 1], requeue=False)
    print(f"array task {task} of {args.manifest}: {len(experiments)} run(s): "
          f"{' '.join(str(exp.get('label')) for exp in experiments)}", flush=True)
    if args.per_gpu > 1 and len(experiments) > 1:
        return run_packed_task(args, task, len(experiments))
    return run_entries(experiments)


def run_entries(experiments: list[dict], requeue: bool = True) -> int:
    """Validate and run manifest entries in turn (run_share); a refused entry's files say why."""
    from scaling_laws.running.runner import record_refusal, run_share
    share, refused = [], []
    for experiment in experiments:
        try:
            share.append(validate_experiment(experiment))
        except ConfigError as error:  # e.g. its dataset is gone since submission: the run's files say why
            record_refusal(experiment, error)
            refused.append(error)
    code = run_share(lazy_train, share, requeue=requeue)
    if refused:
        raise refused[0]
    return code


def run_packed_task(args: argparse.Namespace, task: int, count: int) -> int:
    """An array task packed with --per-gpu K: its share's entries as child processes, K at a time per GPU.
    At the time-limit warning every child checkpoints, then this task requeues itself once."""
    from scaling_laws.running.parallel import run_in_slots, slots_for, visible_gpu_count
    from scaling_laws.running.runner import setup_logging, stopped_task
    setup_logging()
    slots = slots_for(visible_gpu_count(), args.per_gpu)
    print(f"array task {task}: {count} runs in {len(slots)} slots ({args.per_gpu} per "
          f"{'GPU' if slots[0].gpu is not None else 'CPU'})", flush=True)
    base = [sys.executable, os.path.abspath(__file__), "--manifest", args.manifest, "--index", str(task)]
    code = run_in_slots(lambda entry: [*base, "--entry", str(entry)], list(range(count)), slots)
    return stopped_task(code - 128, "after its runs checkpointed") if code > 128 else code


def run_default(args: argparse.Namespace) -> int:
    """`python experiments.py` alone: the default study's one experiment, here, saying where it went."""
    if os.environ.get("SLURM_ARRAY_TASK_ID") is not None:
        raise UsageError("under a Slurm array, name a study (or --manifest FILE, as submit_job.sh writes): "
                         "every task would run the same default experiment")
    cfg, = load_study(DEFAULT_STUDY, args.overrides, args.definitions)
    print(f"No study given: running the default experiment {DEFAULT_STUDY}/{cfg.label} here "
          f"({param_counts(cfg).total:,} parameters, {cfg.max_tokens_training:,} tokens).\n"
          "Pick another: python experiments.py --list (studies), python experiments.py STUDY --list "
          "(its experiments), python experiments.py STUDY --index I (one of them).", flush=True)
    from scaling_laws.running.runner import run_one
    code = run_one(lazy_train, cfg, rerun=args.rerun == "all")
    paths = run_paths(cfg)
    print(f"{DEFAULT_STUDY}/{cfg.label} files: metrics {paths.csv}, config {paths.config_json}, log {paths.log} "
          f"(python experiments.py {DEFAULT_STUDY} --status shows its state)")
    return code


def print_status(args: argparse.Namespace) -> int:
    """--status: every run's line, even when an experiment's dataset is gone (its problem is listed)."""
    from scaling_laws.running.queue import queue_snapshot
    with problems_deferred() as problems:
        configs = load_study(args.study, args.overrides, args.definitions)
    queue, note = queue_snapshot()
    print(format_status_table(configs, queue=queue, queue_note=note, problems=problems,
                              tasks=task_assignments(configs)))
    return 0


def dispatch(args: argparse.Namespace) -> int:
    if args.manifest is not None:
        return run_manifest_task(args)
    if args.tasks is not None and not args.submit:
        raise UsageError(f"-{args.tasks} (--tasks) shares a submission among array tasks: use it with --submit, "
                         "or with submit_job.sh")
    if args.study is not None and "=" in args.study:  # `python experiments.py learning_rate=3e-3`
        args.overrides, args.study = [args.study, *args.overrides], None
    if args.study is None:
        if args.list:
            table, errors = format_study_list(load_studies(args.definitions))
            print(table)
            for error in errors:
                print(f"error: {error}", file=sys.stderr)
            return 2 if errors else 0
        if args.status or args.all or args.submit or args.index is not None:
            raise UsageError("name a study (python experiments.py --list shows them)")
        return run_default(args)
    if args.status:
        return print_status(args)
    configs = load_study(args.study, args.overrides, args.definitions)
    if args.list:
        print(format_study_table(configs))
        return 0
    if args.submit:
        from core import train  # submitit pickles it by reference: a function of core, not of this script
        from scaling_laws.submit.submitit_backend import submit_study
        return submit_study(args.study, configs, Resources.from_args(args), train, rerun=args.rerun, wait=args.wait,
                            tasks=args.tasks)
    from scaling_laws.running.parallel import visible_gpu_count
    from scaling_laws.running.runner import run_all, run_one
    rerun = args.rerun == "all"
    if args.all and (args.per_gpu > 1 or visible_gpu_count() > 1):
        return run_side_by_side(args, len(configs))
    if args.all:
        return run_all(lazy_train, configs, rerun=rerun)
    return run_one(lazy_train, configs[resolve_index(args.index, len(configs))], rerun=rerun)


def run_side_by_side(args: argparse.Namespace, count: int) -> int:
    """--all as child processes, --per-gpu at a time on each visible GPU (scaling_laws/running/parallel.py)."""
    from scaling_laws.running.parallel import experiment_command, run_in_slots, slots_for, visible_gpu_count
    if args.per_gpu < 1:
        raise UsageError(f"--per-gpu {args.per_gpu} must be >= 1")
    base = [os.path.abspath(__file__), args.study, *args.overrides]
    base += ["--definitions", args.definitions] if args.definitions else []
    base += ["--rerun", args.rerun] if args.rerun else []
    slots = slots_for(visible_gpu_count(), args.per_gpu)
    print(f"{args.study}: {count} experiments in {len(slots)} slots ({args.per_gpu} per "
          f"{'GPU' if slots[0].gpu is not None else 'CPU'})", flush=True)
    return run_in_slots(experiment_command(base), list(range(count)), slots)


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
    except SubmitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
