"""The one submission vocabulary: what each Slurm task gets, as both backends and both CLIs spell it.

``submit_job.sh`` (sbatch) and ``experiments.py --submit`` (submitit) add these options with
:func:`add_submission_options` and read them back with :meth:`Resources.from_args`, so a
resource has one name, one syntax and one default everywhere.
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, replace
from typing import Iterable, Optional

from scaling_laws.config import ConfigError

DEFAULT_GRACE_S = 120  # seconds between the stop signal and the time limit: one step + a checkpoint
DEFAULT_SUBMITIT_TIME_MIN = 60  # submitit needs a limit; sbatch without --time takes the partition's
RERUN_CHOICES = ("failed", "all")
SLURM_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d{1,2}))?(?::(\d{1,2}))?$")  # M, M:S, H:M:S, D-H, D-H:M, D-H:M:S
SLURM_MEM = re.compile(r"^(\d+)([KMGT]?)$")
SLURM_GPUS = re.compile(r"^(?:([A-Za-z0-9_-]+):)?(\d+)$")  # 2 or a100:2
SLURM_PARTITION = re.compile(r"^[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*$")
TASK_COUNT = re.compile(r"^-(\d+)$")  # the original tool's -50: an array of 50 tasks

# Defaults per task, from the design: one GPU per transformer run, two per LSTM run (DDP on 2 GPUs).
# A family missing here gets DEFAULT_GPUS_PER_TASK; --gpus overrides it (--gpus 0: CPU only).
GPUS_PER_TASK = {"transformer": 1, "lstm": 2}
DEFAULT_GPUS_PER_TASK = 1
CPUS_PER_GPU = 4  # data loading is a memory-mapped file: a few cores per GPU are plenty
MEM_GB_PER_GPU = 16  # host memory per GPU (the original asked 16G for a transformer task)
CPUS_WITHOUT_GPU = 1  # with --gpus 0 (CPU clusters, the local test Slurm); pass --cpus for more threads


def positive_int(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _matching(pattern: re.Pattern, what: str):
    def check(text: str) -> str:
        if not pattern.match(text):
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {what}")
        return text
    return check


def time_seconds(text: str) -> int:
    """Seconds in a Slurm time limit (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S)."""
    days, first, second, third = SLURM_TIME.match(text).groups()
    if days is not None:  # D-H[:M[:S]]
        hours, minutes, seconds = int(first), int(second or 0), int(third or 0)
        return ((int(days) * 24 + hours) * 60 + minutes) * 60 + seconds
    if third is not None:  # H:M:S
        return (int(first) * 60 + int(second)) * 60 + int(third)
    return int(first) * 60 + int(second or 0)  # M or M:S


def time_minutes(text: str) -> int:
    """Minutes in a Slurm time limit, rounded up (submitit takes minutes)."""
    return max(1, -(-time_seconds(text) // 60))


def mem_gb(text: str) -> float:
    """GB in a Slurm memory size (no suffix means MB, as sbatch reads it)."""
    number, unit = SLURM_MEM.match(text).groups()
    return int(number) * {"K": 2**-20, "": 2**-10, "M": 2**-10, "G": 1, "T": 2**10}[unit]


def gpu_count(gpus: Optional[str]) -> int:
    """The count in a --gpus value ('2' or 'a100:2'); 0 for None."""
    return int(SLURM_GPUS.match(gpus).group(2)) if gpus else 0


def default_gpus(architectures: Iterable[str]) -> int:
    """GPUs per task when --gpus is not given: the most any of the submitted runs' families needs."""
    return max((GPUS_PER_TASK.get(name, DEFAULT_GPUS_PER_TASK) for name in architectures),
               default=DEFAULT_GPUS_PER_TASK)


@dataclass(frozen=True)
class Resources:
    """What every task of one submission asks Slurm for (None: a default, see :meth:`for_runs`)."""

    partition: Optional[str] = None  # partition (None: the cluster's default)
    time: Optional[str] = None  # time limit per task in Slurm syntax (None: the partition's)
    gpus: Optional[str] = None  # GPUs per task: a count, or type:count (None: GPUS_PER_TASK of the runs' family)
    cpus: Optional[int] = None  # CPUs per task (None: CPUS_PER_GPU per GPU, CPUS_WITHOUT_GPU without)
    mem: Optional[str] = None  # memory per task, e.g. 16G (None: MEM_GB_PER_GPU per GPU; without GPU the cluster's)
    concurrency: Optional[int] = None  # at most this many tasks at once (None: no cap)
    grace_s: int = DEFAULT_GRACE_S  # the stop signal comes this many seconds before the time limit
    per_gpu: int = 1  # a task runs this many of its share's experiments at once on each of its GPUs (packing)
    ranks: int = 1  # Slurm tasks (srun ranks of a data-parallel run) per array task, on one node (submit_lstm_job.sh: 2)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "Resources":
        resources = cls(args.partition, args.time, args.gpus, args.cpus, args.mem, args.concurrency, args.grace_s,
                        args.per_gpu, getattr(args, "ranks", 1))
        resources.check()
        return resources

    def check(self) -> None:
        """The stop signal must come after the task starts: --grace-s below --time."""
        if self.time and self.grace_s >= time_seconds(self.time):
            raise ConfigError(f"--grace-s {self.grace_s} is not shorter than --time {self.time} "
                              f"({time_seconds(self.time)} s): the stop signal would come at the start and the task "
                              f"would requeue forever; use a --grace-s below {time_seconds(self.time)} or a longer --time")

    @property
    def gpu_count(self) -> int:
        return gpu_count(self.gpus)

    def for_runs(self, architectures: Iterable[str]) -> "Resources":
        """These resources with every default filled in for tasks running these families."""
        gpus = self.gpus if self.gpus is not None else str(default_gpus(architectures))
        count = gpu_count(gpus)
        cpus = self.cpus if self.cpus is not None else (CPUS_PER_GPU * count if count else CPUS_WITHOUT_GPU)
        mem = self.mem if self.mem is not None else (f"{MEM_GB_PER_GPU * count}G" if count else None)
        return replace(self, gpus=gpus, cpus=cpus, mem=mem)


def add_submission_options(parser: argparse.ArgumentParser) -> None:
    """The resource options and --rerun, shared by submit_job.sh and experiments.py --submit."""
    group = parser.add_argument_group("Slurm resources (submit_job.sh and experiments.py --submit)")
    # Not the literal option -N: sbatch's -N is --nodes. The original's -50 is normalize_task_count's.
    group.add_argument("--tasks", type=positive_int, metavar="N",
                       help="an array of N tasks sharing the experiments: task t runs experiments t, t+N, "
                            "t+2N, ... one after another (also written -N, e.g. -50; default: one task per "
                            "experiment)")
    group.add_argument("-c", "--concurrency", type=positive_int, metavar="C",
                       help="at most C tasks at once (sbatch --array=...%%C)")
    group.add_argument("--partition", type=_matching(SLURM_PARTITION, "partition name"))
    group.add_argument("--time", type=_matching(SLURM_TIME, "Slurm time (minutes, HH:MM:SS, D-HH:MM)"),
                       help="time limit per task, e.g. 4:00:00; the task requeues itself when it runs out "
                            f"(submitit default {DEFAULT_SUBMITIT_TIME_MIN} minutes)")
    group.add_argument("--gpus", type=_matching(SLURM_GPUS, "GPU count (2 or type:2)"),
                       help="GPUs per task (default: " + ", ".join(f"{n} per {name} task" for name, n in
                                                                 GPUS_PER_TASK.items())
                            + "); --gpus 0 for CPU clusters and the local test Slurm")
    group.add_argument("--cpus", type=positive_int,
                       help=f"CPUs per task (default {CPUS_PER_GPU} per GPU; {CPUS_WITHOUT_GPU} with --gpus 0)")
    group.add_argument("--mem", type=_matching(SLURM_MEM, "memory (e.g. 4G)"),
                       help=f"memory per task, e.g. 64G (default {MEM_GB_PER_GPU}G per GPU; with --gpus 0 "
                            "the cluster's default)")
    group.add_argument("--grace-s", type=positive_int, default=DEFAULT_GRACE_S,
                       help=f"stop signal this many seconds before the time limit (default {DEFAULT_GRACE_S})")
    group.add_argument("--per-gpu", type=positive_int, default=1, metavar="K",
                       help="pack small runs: K experiments at once on each GPU (on the CPU without one), each "
                            "its own process and files; with -N a task runs its share K at a time, with "
                            "experiments.py --all the whole study")
    add_rerun_option(parser)


def add_rerun_option(parser: argparse.ArgumentParser) -> None:
    """--rerun failed|all; a bare --rerun means all (see normalize_rerun)."""
    parser.add_argument("--rerun", choices=RERUN_CHOICES,
                        help="failed: only failed, incomplete or missing runs (as without --rerun, but never "
                             "complete ones); all (or a bare --rerun): every run, discarding old results")


def normalize_task_count(argv: list[str]) -> list[str]:
    """'-50' means '--tasks=50', as in the original tool (argparse would take it for a number)."""
    return [f"--tasks={match.group(1)}" if (match := TASK_COUNT.match(arg)) else arg for arg in argv]


def normalize_rerun(argv: list[str]) -> list[str]:
    """A bare ``--rerun`` (not followed by failed or all) means ``--rerun=all``, so that the
    word after it stays an override or a study name."""
    out = []
    for index, arg in enumerate(argv):
        following = argv[index + 1] if index + 1 < len(argv) else None
        out.append("--rerun=all" if arg == "--rerun" and following not in RERUN_CHOICES else arg)
    return out
