"""Submit a study as Slurm job arrays that never lose work (the Python behind submit_job.sh).

    bash submit_job.sh [-N] STUDY [key=value ...] [options]

It resolves the study, picks the runs to submit from the result files (complete ones are
skipped unless --rerun all), writes a manifest of exactly those experiments and of which
experiments each array task runs, and submits one sbatch script whose task i runs manifest
task i + OFFSET. Without -N each task runs one experiment; with -N (e.g. -50) there are N
tasks and task t runs experiments t, t+N, t+2N, ... one after another. Arrays longer than
the cluster's MaxArraySize are split into several submissions with offsets. Each task gets
the time-limit warning SIGUSR1 <grace> seconds early, checkpoints, requeues itself and
resumes its share later.
"""
from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from scaling_laws.config import ConfigError
from scaling_laws.results_layout import REPO_ROOT, put_back, results_root
from scaling_laws.running.queue import task_comment
from scaling_laws.studies.loader import load_study
from scaling_laws.submit.guard import SubmitError, discard_old_results, one_submission_at_a_time, \
    queue_before_submitting
from scaling_laws.submit.manifest import build_manifest, manifest_path, write_manifest
from scaling_laws.submit.resources import (Resources, add_submission_options, normalize_rerun, normalize_task_count,
                                           positive_int)
from scaling_laws.submit.selection import describe_counts, held_back, select_runs

SLURM_DEFAULT_MAX_ARRAY_SIZE = 1001
DIRECTIVE_SAFE = re.compile(r"^[^\s'\"\\$`]+$")  # #SBATCH lines are not shell: no quoting there

class PartlySubmitted(SubmitError):
    """sbatch refused a later chunk after earlier ones were submitted (their manifest stays)."""


SBATCH_TEMPLATE = """\
#!/bin/bash
# Written by scaling_laws/submit/sbatch.py for study {study}; sbatch keeps its own copy of this script.
# Array task i runs task i + OFFSET of the manifest (its experiments in turn); OFFSET is the first argument.
#SBATCH --job-name={study}
#SBATCH --output={array_log}
#SBATCH --open-mode=append
#SBATCH --requeue
#SBATCH --signal=B:USR1@{grace_s}
#SBATCH --ntasks={ranks}
#SBATCH --cpus-per-task={cpus}
{resources}set -euo pipefail
offset=$1
cd {repo}
export SCALING_RESULTS_DIR={results}
# exec: this shell becomes the runner, so the B:USR1 time-limit warning reaches it directly.
exec {python} experiments.py --manifest {manifest} --index $((SLURM_ARRAY_TASK_ID + offset)){packing}
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="submit_job.sh", allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="bash submit_job.sh [-N] STUDY [key=value ...] [options]", description=__doc__)
    parser.add_argument("study", help="study name (python experiments.py --list shows them)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for every experiment")
    parser.add_argument("--first", type=positive_int, metavar="K", help="only the first K experiments of the study")
    parser.add_argument("--ranks", type=positive_int, default=1, metavar="R",
                        help="Slurm tasks per array task, on one node: the srun ranks of a data-parallel run "
                             "(world_size; submit_lstm_job.sh: 2)")
    add_submission_options(parser)
    parser.add_argument("--definitions", metavar="FILE", help="a Python file defining more studies")
    parser.add_argument("--max-array-size", type=positive_int, metavar="M",
                        help="split arrays at M tasks (default: MaxArraySize from scontrol show config)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be submitted; submit nothing")
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parsed options; exits 2 with the usage line on a bad argument."""
    # -50 is --tasks=50; overrides may follow options
    return build_parser().parse_intermixed_args(normalize_rerun(normalize_task_count(argv)))


# ----------------------------------------------------------------------------- what to submit
def array_chunks(count: int, max_array_size: int) -> list[tuple[int, int]]:
    """(offset, size) per submission: array indices must stay below MaxArraySize."""
    return [(offset, min(max_array_size, count - offset)) for offset in range(0, count, max_array_size)]


# ----------------------------------------------------------------------------- the sbatch script
def _directive(name: str, value: str) -> str:
    if not DIRECTIVE_SAFE.match(value):
        raise ConfigError(f"{name} {value!r} cannot go on an #SBATCH line: it holds spaces, quotes or $; "
                          "use a path without them")
    return value


def array_log_dir(results: Path, folder: str) -> Path:
    """Where the tasks' console logs go; sbatch needs it to exist before a task starts."""
    return results / folder / ".slurm"


def render_script(study: str, manifest: Path, folder: str, resources: Resources, results: Path,
                  python: str, repo: Path = REPO_ROOT) -> str:
    """The sbatch script, from SBATCH_TEMPLATE: directives checked, shell words quoted.

    Every task appends to results/<folder>/.slurm/<study>-<job>_<task>.log; each run's own log
    is results/<folder>/<label>.log (see running/run_log.py).
    """
    array_log = array_log_dir(results, folder) / f"{study}-%A_%a.log"
    lines = [f"--{key}={_directive(key, value)}" for key, value in
                 (("partition", resources.partition), ("time", resources.time), ("mem", resources.mem)) if value]
    if resources.gpu_count:
        lines.append(f"--gres=gpu:{resources.gpus}")
    lines += ranks_lines(resources.ranks)
    return SBATCH_TEMPLATE.format(
        study=_directive("study", study), array_log=_directive("log path", str(array_log)),
        grace_s=resources.grace_s, cpus=max(1, resources.cpus // resources.ranks), ranks=resources.ranks,
        resources="".join(f"#SBATCH {line}\n" for line in lines),
        repo=shlex.quote(str(repo)),
        results=shlex.quote(str(results)), python=shlex.quote(python), manifest=shlex.quote(str(manifest)),
        packing=f" --per-gpu {resources.per_gpu}" if resources.per_gpu > 1 else "")


def ranks_lines(ranks: int) -> list[str]:
    """Several ranks per array task share one node: launch.py starts them with srun and meets them on the batch
    host. The task's CPUs (--cpus) are split among its ranks."""
    return ["--nodes=1", f"--ntasks-per-node={ranks}"] if ranks > 1 else []


def sbatch_command(script: Path, size: int, offset: int, concurrency: Optional[int],
                   after: Optional[str] = None, manifest: Optional[Path] = None) -> list[str]:
    """The sbatch call of one chunk; the job comment names the manifest and offset (running/queue.py reads it)."""
    throttle = f"%{concurrency}" if concurrency else ""
    dependency = [f"--dependency=afterany:{after}"] if after else []
    comment = [f"--comment={task_comment(manifest, offset)}"] if manifest else []
    return ["sbatch", "--parsable", f"--array=0-{size - 1}{throttle}", *dependency, *comment, str(script),
            str(offset)]


# ----------------------------------------------------------------------------- talking to Slurm
def _slurm(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise SubmitError(f"{cmd[0]} is not on PATH: is this a Slurm login node?") from None
    if proc.returncode != 0:
        raise SubmitError(f"`{shlex.join(cmd)}` exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def max_array_size_from_scontrol() -> int:
    """MaxArraySize of the cluster (array indices must be below it)."""
    match = re.search(r"^MaxArraySize\s*=\s*(\d+)", _slurm(["scontrol", "show", "config"]), re.MULTILINE)
    if not match:
        raise SubmitError("`scontrol show config` has no MaxArraySize line; pass --max-array-size")
    return int(match.group(1))


def max_array_size_for(dry_run: bool) -> int:
    """The cluster's MaxArraySize; a dry run away from Slurm assumes Slurm's default."""
    try:
        return max_array_size_from_scontrol()
    except SubmitError as error:
        if not dry_run:
            raise
        print(f"note: {error}; assuming Slurm's default MaxArraySize={SLURM_DEFAULT_MAX_ARRAY_SIZE}")
        return SLURM_DEFAULT_MAX_ARRAY_SIZE


def submit_chunks(script: Path, manifest: Path, chunks: list[tuple[int, int]], concurrency: Optional[int],
                  dry_run: bool) -> list[str]:
    """One sbatch per chunk, printed first; with -c, each chunk waits for the one before so the
    cap holds across chunks. Returns the job ids."""
    job_ids: list[str] = []
    for offset, size in chunks:
        after = job_ids[-1] if concurrency and job_ids else None
        cmd = sbatch_command(script, size, offset, concurrency, after, manifest)
        print(("would run: " if dry_run else "") + shlex.join(cmd), flush=True)
        if dry_run:
            job_ids.append(f"<job {len(job_ids) + 1}>")
            continue
        try:
            job_ids.append(_slurm(cmd).strip().split(";")[0])
        except SubmitError as error:
            if job_ids:
                raise PartlySubmitted(f"{error}; jobs {' '.join(job_ids)} were submitted and keep {manifest}; "
                                      f"submit the rest with --rerun failed once they are queued") from None
            raise
        print(f"submitted job {job_ids[-1]}: array tasks 0-{size - 1} run manifest tasks {offset}-{offset + size - 1}",
              flush=True)
    return job_ids


# ----------------------------------------------------------------------------- main
@dataclass(frozen=True)
class Plan:
    manifest: dict  # what the array runs
    manifest_file: Path  # where it is (or would be) written
    chunks: list[tuple[int, int]]  # (offset, size) per sbatch


def plan_submission(args: argparse.Namespace, configs: list) -> Optional[Plan]:
    """Pick runs (from their files and the queue) and build the manifest; None when there is nothing to submit."""
    queue = queue_before_submitting(args.dry_run)
    indices, counts = select_runs(configs, args.rerun, args.first, queue)
    print(f"{args.study}: {len(configs)} experiments, considered {sum(counts.values())} ({describe_counts(counts)}); "
          f"submitting {len(indices)}" + (f" (--rerun {args.rerun})" if args.rerun else ""))
    for line in held_back(counts, args.rerun):
        print(line)
    if not indices:
        return None
    manifest = build_manifest(args.study, [configs[i] for i in indices], indices, args.definitions,
                              tuple(args.overrides), tasks=args.tasks)
    if args.tasks:
        print_shares(manifest, args.tasks)
    max_size = args.max_array_size or max_array_size_for(args.dry_run)
    return Plan(manifest, manifest_path(manifest), array_chunks(len(manifest["tasks"]), max_size))


def check_packing(per_gpu: int, tasks: Optional[int], count: int) -> None:
    """--per-gpu packs a task's share: it needs -N, or every task has one run to pack."""
    if per_gpu > 1 and not tasks:
        raise ConfigError(f"--per-gpu {per_gpu} packs the experiments of a task's share, but without -N every "
                          f"task runs one; add -N (e.g. -{max(1, count // per_gpu)}: tasks of {per_gpu} runs each)")


def print_shares(manifest: dict, asked: int) -> None:
    """Which experiments each array task runs (-N)."""
    tasks = manifest["tasks"]
    fewer = f" (not {asked}: {len(tasks)} experiments fill only {len(tasks)} tasks)" if asked > len(tasks) else ""
    print(f"{len(tasks)} array tasks share them{fewer}: task t runs experiments t, t+{len(tasks)}, ... in turn")
    for task, entries in enumerate(tasks):
        print(f"  task {task}: " + " ".join(manifest["experiments"][entry]["label"] for entry in entries))


def submit(args: argparse.Namespace, plan: Plan, resources: Resources) -> list[str]:
    script = plan.manifest_file.with_suffix(".sbatch")
    folder, results = plan.manifest["experiments"][0]["folder_name"], results_root().resolve()
    resources = resources.for_runs(exp["architecture"] for exp in plan.manifest["experiments"])
    text = render_script(args.study, plan.manifest_file, folder, resources, results, sys.executable)
    if args.dry_run:
        print(f"would write {plan.manifest_file} ({len(plan.manifest['experiments'])} experiments) and {script}:")
        print(text, end="")
        return submit_chunks(script, plan.manifest_file, plan.chunks, args.concurrency, args.dry_run)
    moved = discard_old_results(plan.manifest["experiments"]) if args.rerun == "all" else []
    write_manifest(plan.manifest)
    script.write_text(text)
    array_log_dir(results, folder).mkdir(parents=True, exist_ok=True)
    print(f"manifest {plan.manifest_file}")
    try:
        return submit_chunks(script, plan.manifest_file, plan.chunks, args.concurrency, args.dry_run)
    except PartlySubmitted:
        raise
    except SubmitError:  # nothing was submitted: leave nothing behind, lose nothing
        plan.manifest_file.unlink(missing_ok=True)
        script.unlink(missing_ok=True)
        put_back(moved)
        raise


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        resources = Resources.from_args(args)
        configs = load_study(args.study, args.overrides, args.definitions)
        check_packing(args.per_gpu, args.tasks, len(configs))
        with one_submission_at_a_time(args.study, configs[0].folder_name, args.dry_run):
            plan = plan_submission(args, configs)
            if plan is None:
                print("nothing to submit")
                return 0
            job_ids = submit(args, plan, resources)
    except ConfigError as error:
        parser.print_usage(sys.stderr)
        print(f"submit_job.sh: error: {error}", file=sys.stderr)
        return 2
    except SubmitError as error:
        print(f"submit_job.sh: error: {error}", file=sys.stderr)
        return 1
    print("job ids: " + " ".join(job_ids))
    return 0


if __name__ == "__main__":
    sys.exit(main())
