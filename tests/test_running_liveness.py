"""running/liveness.py: a heartbeat's writer is alive, judged by PID and start time here, by age elsewhere."""
import os
import time

from scaling_laws.running.liveness import STALE_AFTER_S, is_alive, process_start, this_process


def test_this_process_is_alive_at_any_heartbeat_age():
    assert is_alive(this_process(), age_s=10 * STALE_AFTER_S)  # same host: the process decides, not the age


def process_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0]


def test_a_killed_but_unreaped_process_is_dead():
    child = os.fork()
    if child == 0:
        os._exit(0)
    try:
        deadline = time.monotonic() + 10
        while process_state(child) != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert process_start(child) is None  # a zombie: exited, not yet waited for
        assert not is_alive({**this_process(), "pid": child}, age_s=0)
    finally:
        os.waitpid(child, 0)


def test_another_hosts_heartbeat_is_judged_by_its_age():
    beat = {"host": "elsewhere", "boot_id": "x", "pid": os.getpid(), "pid_start": process_start(os.getpid())}
    assert is_alive(beat, age_s=STALE_AFTER_S - 1)
    assert not is_alive(beat, age_s=STALE_AFTER_S + 1)
