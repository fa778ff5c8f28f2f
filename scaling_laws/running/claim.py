"""The atomic claim: at most one attempt per run at a time, whatever starts them and however many at once.

An attempt holds an exclusive ``flock`` on results/<folder>/<label>.lock for as long as it runs.
Taking the lock is one system call that cannot race: of any number of simultaneous attempts,
one gets it and the others are told who holds it. The kernel drops the lock when its process
dies, however it dies (SIGKILL, OOM killer), so a killed run never blocks its own rerun. The
lock file itself is never removed: removing it would let a late attempt lock a fresh file while
an old one still holds the unlinked one.

Shared file systems. Linux NFS clients turn flock into whole-file locks that the server
arbitrates (NLM for NFSv3, in-protocol for v4), so the claim holds across hosts, unless the file
system is mounted with ``local_lock=flock`` or ``local_lock=all`` (or ``nolock``): then locks
are only seen on one host. Lustre needs the ``flock`` mount option (``localflock`` is per
host). Because such a mount cannot be detected, the runner keeps a second guard that needs no
locks: an attempt refuses to start while another host's heartbeat is fresh (running/liveness.py).
A file system that refuses locks altogether makes the attempt fail with a message saying so.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from scaling_laws.config import ConfigError
from scaling_laws.running.liveness import this_process

UNSUPPORTED = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)


class ClaimUnsupported(ConfigError):
    """The file system under the results folder does not support file locks."""


class ExclusiveLock:
    """An exclusive flock on ``path``, held until released or until the process dies.

    A run's claim: ``with ExclusiveLock(paths.lock) as claimed:`` claimed is True for the one
    attempt that holds the run. A submission's lock waits instead: ``acquire(on_wait=...)``.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: Optional[int] = None

    def acquire(self, on_wait: Optional[Callable[[str], None]] = None) -> bool:
        """Take the lock; if another process holds it, return False, or with ``on_wait`` call it with the
        holder's description and wait for the lock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait is None:
                    os.close(fd)
                    return False
                on_wait(self.holder())
                fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as error:
            os.close(fd)
            if error.errno in UNSUPPORTED:
                raise ClaimUnsupported(
                    f"cannot lock {self.path} ({os.strerror(error.errno)}): the file system under the results folder "
                    "does not support file locks, which keep two attempts from writing one run; mount it with "
                    "locking (NFS without nolock, Lustre with -o flock) or set SCALING_RESULTS_DIR to a folder "
                    "that has them") from None
            raise
        self._fd = fd
        os.ftruncate(fd, 0)
        since = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        os.write(fd, (json.dumps({**this_process(), "since": since}) + "\n").encode())  # for the others' message
        return True

    def holder(self) -> str:
        """Who holds the lock, as the holder wrote it: 'pid 12 on host n1 since 2025-...' ('' if unknown)."""
        try:
            info = json.loads(self.path.read_text())
            return f"pid {info['pid']} on host {info['host']} since {info['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            return ""

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
