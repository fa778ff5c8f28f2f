"""The one submission vocabulary: what each Slurm task gets, as both backends and both CLIs spell it.

``submit_job.sh`` (sbatch) and ``experiments.py --submit`` (submitit) add these options with
:func:`add_submission_options` and read them back with :meth:`Resources.from_args`, so a
resource has one name, one syntax and one default everywhere.
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import Optional

from scaling_laws.config import ConfigError

DEFAULT_GRACE_S = 120  # seconds between the stop signal and the time limit: one step + a checkpoint
DEFAULT_SUBMITIT_TIME_MIN = 60  # submitit needs a limit; sbatch without --time takes the partition's
RERUN_CHOICES = ("failed", "all")
SLURM_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d{1,2}))?(?::(\d{1,2}))?$")  # M, M:S, H:M:S, D-H, D-H:M, D-H:M:S
SLURM_MEM = re.compile(r"^(\d+)([KMGT]?)$")
SLURM_GPUS = re.compile(r"^(?:([A-Za-z0-9_-]+):)?(\d+)$")  # 2 or a100:2
SLURM_PARTITION = re.compile(r"^[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*$")


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


@dataclass(frozen=True)
class Resources:
    """What every task of one submission asks Slurm for."""

    partition: Optional[str] = None  # partition (None: the cluster's default)
    time: Optional[str] = None  # time limit per task in Slurm syntax (None: the partition's)
    gpus: Optional[str] = None  # GPUs per task: a count, or type:count (None: no GPU)
    cpus: int = 1  # CPUs per task
    mem: Optional[str] = None  # memory per task, e.g. 16G (None: the cluster's default)
    concurrency: Optional[int] = None  # at most this many tasks at once (None: no cap)
    grace_s: int = DEFAULT_GRACE_S  # the stop signal comes this many seconds before the time limit

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "Resources":
        resources = cls(args.partition, args.time, args.gpus, args.cpus, args.mem, args.concurrency, args.grace_s)
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
        return int(SLURM_GPUS.match(self.gpus).group(2)) if self.gpus else 0


def add_submission_options(parser: argparse.ArgumentParser) -> None:
    """The resource options and --rerun, shared by submit_job.sh and experiments.py --submit."""
    group = parser.add_argument_group("Slurm resources (submit_job.sh and experiments.py --submit)")
    group.add_argument("-c", "--concurrency", type=positive_int, metavar="C",
                       help="at most C tasks at once (sbatch --array=...%%C)")
    group.add_argument("--partition", type=_matching(SLURM_PARTITION, "partition name"))
    group.add_argument("--time", type=_matching(SLURM_TIME, "Slurm time (minutes, HH:MM:SS, D-HH:MM)"),
                       help="time limit per task, e.g. 4:00:00; the task requeues itself when it runs out "
                            f"(submitit default {DEFAULT_SUBMITIT_TIME_MIN} minutes)")
    group.add_argument("--gpus", type=_matching(SLURM_GPUS, "GPU count (2 or type:2)"), help="GPUs per task")
    group.add_argument("--cpus", type=positive_int, default=1, help="CPUs per task (default 1)")
    group.add_argument("--mem", type=_matching(SLURM_MEM, "memory (e.g. 4G)"), help="memory per task, e.g. 16G")
    group.add_argument("--grace-s", type=positive_int, default=DEFAULT_GRACE_S,
                       help=f"stop signal this many seconds before the time limit (default {DEFAULT_GRACE_S})")
    add_rerun_option(parser)


def add_rerun_option(parser: argparse.ArgumentParser) -> None:
    """--rerun failed|all; a bare --rerun means all (see normalize_rerun)."""
    parser.add_argument("--rerun", choices=RERUN_CHOICES,
                        help="failed: only failed, incomplete or missing runs (as without --rerun, but never "
                             "complete ones); all (or a bare --rerun): every run, discarding old results")


def normalize_rerun(argv: list[str]) -> list[str]:
    """A bare ``--rerun`` (not followed by failed or all) means ``--rerun=all``, so that the
    word after it stays an override or a study name."""
    out = []
    for index, arg in enumerate(argv):
        following = argv[index + 1] if index + 1 < len(argv) else None
        out.append("--rerun=all" if arg == "--rerun" and following not in RERUN_CHOICES else arg)
    return out
