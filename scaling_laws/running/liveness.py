"""Is the attempt that wrote a heartbeat still alive?

On the same host (same hostname and boot) the answer is exact and immediate: the process with
the heartbeat's PID must exist and have the same start time (a PID reused by a new process after
the attempt died has another start time). Across hosts we cannot look at the process, so the
heartbeat's age decides: touched within STALE_AFTER_S means alive.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Optional

HEARTBEAT_INTERVAL_S = 15.0  # how often a live attempt touches its heartbeat
STALE_AFTER_S = 4 * HEARTBEAT_INTERVAL_S  # an older heartbeat from another host belongs to a dead attempt


def boot_id() -> Optional[str]:
    """This boot of this machine (Linux); None where /proc does not say."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def process_start(pid: int) -> Optional[int]:
    """The start time of process ``pid`` in clock ticks since boot (Linux /proc); None if there is no such
    process, or only its corpse (a zombie: killed, not yet reaped by its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name: field 3 (state) onwards
    return None if fields[0] in ("Z", "X") else int(fields[19])  # field 22: start time


def this_process() -> dict[str, Any]:
    """What a heartbeat records about the attempt that writes it."""
    return {"host": socket.gethostname(), "boot_id": boot_id(), "pid": os.getpid(),
            "pid_start": process_start(os.getpid())}


def same_host(beat: dict[str, Any]) -> bool:
    return beat.get("host") == socket.gethostname() and beat.get("boot_id") == boot_id() is not None


def is_alive(beat: dict[str, Any], age_s: float) -> bool:
    """Whether the attempt that wrote heartbeat ``beat``, last touched ``age_s`` ago, is alive."""
    if same_host(beat) and isinstance(beat.get("pid"), int):
        start = process_start(beat["pid"])
        return start is not None and start == beat.get("pid_start")
    return age_s < STALE_AFTER_S
