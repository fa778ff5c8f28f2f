"""A real single-node Slurm for tests: the session fixture `local_slurm` and its helper.

The fixture runs `bash scripts/local_slurm.sh up` once per session (about 0.5 s when the cluster
is already up) and FAILS the test, never skips it, when Slurm cannot be started: the SLURM path
is what this project runs on, so a missing cluster is a broken test setup.

Use it from any test module (tests/ is on sys.path under pytest's default import mode):

    from slurm_fixtures import local_slurm  # noqa: F401  (registers the fixture)

    def test_hello(local_slurm, tmp_path):
        job_id = local_slurm.sbatch(["--output", f"{tmp_path}/%j.out", "--wrap", "echo hi"])
        assert local_slurm.wait_for_jobs([job_id], timeout_s=60)[job_id].state == "COMPLETED"
"""
from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCAL_SLURM_SH = REPO_ROOT / "scripts" / "local_slurm.sh"
SLURM_CONF = Path("/etc/slurm/slurm.conf")  # written by local_slurm.sh up
UP_TIMEOUT_S = 900  # a fresh install (apt) took 31 s here; leave room for a slow package mirror
POLL_S = 0.5  # squeue/sacct polling period
# sacct states after which a job never changes again
FINAL_STATES = frozenset(
    "BOOT_FAIL CANCELLED COMPLETED DEADLINE FAILED NODE_FAIL OUT_OF_MEMORY PREEMPTED TIMEOUT".split()
)


@dataclass(frozen=True)
class JobOutcome:
    state: str  # sacct State, first word only ("CANCELLED by 0" -> "CANCELLED")
    exit_code: int  # exit status of the batch script (sacct ExitCode before the colon)
    signal: int  # signal that ended it, 0 if none (sacct ExitCode after the colon)


def run(cmd: list[str], timeout_s: float = 60) -> str:
    """Runs a Slurm command and returns its stdout; raises with its stderr if it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def jobs_in_queue(job_ids: str) -> list[str]:
    """Ids (comma separated) still pending or running; squeue omits finished jobs."""
    proc = subprocess.run(["squeue", "-h", "-o", "%i", "-j", job_ids], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 and "Invalid job id" in proc.stderr:
        return []  # every id already purged from the controller (MinJobAge passed)
    if proc.returncode != 0:
        raise RuntimeError(f"squeue -j {job_ids} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout.split()


def controller_task_ids(job_ids: str) -> set[str]:
    """The ids sacct must end up showing ("7" or "7_0", "7_1", ...), as the controller knows them.

    The controller has every finished job and array task for MinJobAge (300 s); sacct gets them
    through slurmdbd a little later, so this set says when sacct has caught up.
    """
    proc = subprocess.run(["scontrol", "show", "-o", "job", job_ids], capture_output=True, text=True, timeout=60)
    ids = set()
    for line in proc.stdout.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        task = fields.get("ArrayTaskId")
        ids.add(f"{fields['ArrayJobId']}_{task}" if task else fields["JobId"])
    return ids


def sacct_outcomes(job_ids: str) -> dict[str, JobOutcome]:
    """sacct's record of each job or array task, keyed by its JobID ("7" or "7_1")."""
    out = run(["sacct", "-X", "-n", "-P", "-j", job_ids, "-o", "JobID,State,ExitCode"])
    outcomes = {}
    for line in out.splitlines():
        job_id, state, exit_code = line.split("|")
        code, signal = exit_code.split(":")
        outcomes[job_id] = JobOutcome(state.split()[0], int(code), int(signal))
    return outcomes


def sacct_caught_up(outcomes: dict[str, JobOutcome], expected_ids: set[str], job_ids: list[str]) -> bool:
    """True once sacct has a final record for every expected id (or, if the controller has
    forgotten the jobs, a final record for each job and no unsplit array record like 7_[0-2])."""
    if expected_ids:
        return all(i in outcomes and outcomes[i].state in FINAL_STATES for i in expected_ids)
    has_each_job = all(any(k == j or k.startswith(f"{j}_") for k in outcomes) for j in job_ids)
    return has_each_job and all("[" not in k and o.state in FINAL_STATES for k, o in outcomes.items())


@dataclass(frozen=True)
class LocalSlurm:
    max_array_size: int  # MaxArraySize of the running cluster: array indices must be below it
    gpus: int  # fake GPUs on the node (GRES gpu), for --gres=gpu:N

    def sbatch(self, args: list[str]) -> str:
        """Submits `sbatch --parsable ARGS` and returns the job id, e.g. "42"."""
        return run(["sbatch", "--parsable", *args]).strip().split(";")[0]

    def wait_for_jobs(self, job_ids: Iterable[str], timeout_s: float) -> dict[str, JobOutcome]:
        """Waits until the jobs leave squeue, then until sacct has their final records (it lags
        the controller by up to a few seconds), and returns them keyed "42" or "42_3" per array
        task. Raises TimeoutError after timeout_s in all. An array task cancelled while PENDING
        leaves no record anywhere, so it is missing from the result."""
        job_ids = list(job_ids)
        joined = ",".join(job_ids)
        deadline = time.monotonic() + timeout_s
        while queued := jobs_in_queue(joined):
            if time.monotonic() > deadline:
                raise TimeoutError(f"after {timeout_s}s these jobs are still in squeue: {queued}")
            time.sleep(POLL_S)
        expected_ids = controller_task_ids(joined)
        while True:
            outcomes = sacct_outcomes(joined)
            if sacct_caught_up(outcomes, expected_ids, job_ids):
                return {k: o for k, o in outcomes.items() if not expected_ids or k in expected_ids}
            if time.monotonic() > deadline:
                raise TimeoutError(f"after {timeout_s}s sacct shows {outcomes}, expected final records for "
                                   f"{sorted(expected_ids) or job_ids}")
            time.sleep(POLL_S)


def slurm_conf_int(key: str, default: int) -> int:
    """An integer setting from slurm.conf as local_slurm.sh wrote it (e.g. MaxArraySize)."""
    match = re.search(rf"\b{key}=(?:gpu:)?(\d+)", SLURM_CONF.read_text())
    return int(match.group(1)) if match else default


@pytest.fixture(scope="session")
def local_slurm() -> LocalSlurm:
    """A running local Slurm cluster; started (as root) if it is not up yet."""
    cmd = ["bash", str(LOCAL_SLURM_SH), "up"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=UP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(cmd)}` did not finish in {UP_TIMEOUT_S}s", pytrace=False)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip().splitlines()[-25:]
        pytest.fail(f"local Slurm could not be started: `{' '.join(cmd)}` exited {proc.returncode} "
                    "(it needs root, and apt for the first install). Last output:\n" + "\n".join(output),
                    pytrace=False)
    # the defaults are Slurm's own: MaxArraySize 1001, and no Gres line when there are no GPUs
    return LocalSlurm(max_array_size=slurm_conf_int("MaxArraySize", 1001), gpus=slurm_conf_int("Gres", 0))
