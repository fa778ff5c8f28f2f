"""What an attempt leaves next to its results while it runs: its log and its heartbeat.

The log, results/<folder>/<label>.log, gets everything the attempt prints through Python
(sys.stdout, sys.stderr, logging, tracebacks), appended across attempts, each one opened by a
header line; the console (a Slurm array log, a terminal) still gets it all too. Output that C
code writes straight to file descriptors 1 and 2 reaches only the console.

The heartbeat file names the attempt's host, boot, PID and process start time, and is touched
every HEARTBEAT_INTERVAL_S by a daemon thread, so ``run_state`` can tell a live attempt from one
that was killed without cleaning up (running/liveness.py).
"""
from __future__ import annotations

import os
import socket
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Mapping, Optional, TextIO

from scaling_laws.results_layout import atomic_write_json, read_json
from scaling_laws.running.liveness import HEARTBEAT_INTERVAL_S, is_alive, this_process
from scaling_laws.running.slurm_env import slurm_job_name


class Tee:
    """A text stream that writes to several streams (console and log file)."""

    def __init__(self, *streams: TextIO):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:  # for code that writes to the descriptor itself: the console
        return self.streams[0].fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.streams[0], "encoding", "utf-8")


def attempt_header(env: Mapping[str, str] = os.environ) -> str:
    """One line naming this attempt: time, host, Slurm job and restart count, pid."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (f"===== attempt {stamp} host={socket.gethostname()} slurm_job={slurm_job_name(env)} "
            f"restart={env.get('SLURM_RESTART_COUNT', '0')} pid={os.getpid()} =====")


@contextmanager
def tee_to_log(path: Path) -> Iterator[None]:
    """Copy sys.stdout and sys.stderr into ``path`` (appending), starting with a header line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = sys.stdout, sys.stderr
    with open(path, "a", buffering=1) as log_file:
        sys.stdout, sys.stderr = Tee(saved[0], log_file), Tee(saved[1], log_file)
        print(attempt_header(), flush=True)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            sys.stdout, sys.stderr = saved


def live_attempt_elsewhere(path: Path) -> Optional[dict]:
    """The heartbeat of another live attempt at this run, or None.

    An earlier attempt of this same Slurm task (killed, then requeued) is not "elsewhere".
    """
    try:
        age_s = time.time() - path.stat().st_mtime
        beat = read_json(path)
    except (OSError, ValueError):
        return None
    if not isinstance(beat, dict) or not is_alive(beat, age_s):
        return None
    mine = slurm_job_name()
    return None if mine != "-" and beat.get("slurm_job") == mine else beat


class Heartbeat:
    """Context manager: writes the heartbeat file, touches it while the attempt lives, removes it."""

    def __init__(self, path: Path, interval_s: float = HEARTBEAT_INTERVAL_S):
        self.path, self.interval_s = Path(path), interval_s
        self.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                os.utime(self.path)
            except FileNotFoundError:  # removed under us (e.g. --rerun all): put it back
                self._write()

    def _write(self) -> None:
        atomic_write_json(self.path, {**this_process(), "slurm_job": slurm_job_name(), "started": self.started})

    def __enter__(self) -> "Heartbeat":
        self._write()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.path.unlink(missing_ok=True)
