"""running/claim.py: one attempt per run at a time, and a killed holder never blocks the next one."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from conftest import ROOT

from experiment_utils import gen_experim
from scaling_laws.results_layout import read_metrics_rows, run_paths_for
from scaling_laws.running.claim import ExclusiveLock
from scaling_laws.submit.manifest import build_manifest, write_manifest
from scaling_laws.validate import validate_experiment

STARTS = 10


def test_ten_simultaneous_starts_of_one_run_train_it_exactly_once(tiny_fields, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"line {i}: {i * i}\n" for i in range(20000)))
    fields = {**tiny_fields, "max_tokens_training": 8 * 32 * 150, "dataset": str(corpus)}
    cfg = validate_experiment(gen_experim(fields.pop("hidden_dim"), label="race", folder_name="RACE", **fields)[0])
    manifest = write_manifest(build_manifest("RACE", [cfg], [0]))
    cmd = [sys.executable, str(ROOT / "experiments.py"), "--manifest", str(manifest), "--index", "0"]

    starts = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
              for _ in range(STARTS)]
    outputs = [(proc.communicate(timeout=300)[0], proc.returncode) for proc in starts]

    paths = run_paths_for("RACE", "race")
    trained = [out for out, code in outputs if "training starts from step 0" in out]
    assert len(trained) == 1, [code for _, code in outputs]
    busy = [out for out, _ in outputs if "another attempt holds it (" in out]
    skipped = [out for out, _ in outputs if "already complete" in out]  # started once the winner had finished
    assert busy and len(busy) + len(skipped) == STARTS - 1
    assert {code for _, code in outputs} == {0}  # a busy array task did nothing wrong: it exits 0
    assert paths.log.read_text().count("training starts from step 0") == 1
    assert [int(row["optimizer_step"]) for row in read_metrics_rows(paths.csv)] == list(range(1, 151))
    assert paths.done_marker.exists()


HOLD = "import sys, time; from scaling_laws.running.claim import ExclusiveLock; " \
       "assert ExclusiveLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(600)"


def test_the_lock_dies_with_its_process_even_on_sigkill(tmp_path):
    path = tmp_path / "run.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert holder.stdout.readline().strip() == "held"
    lock = ExclusiveLock(path)
    assert not lock.acquire()
    assert f"pid {holder.pid} on host " in lock.holder()

    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    killed_at = time.monotonic()

    assert lock.acquire()  # at once: no stale timeout to wait for
    assert time.monotonic() - killed_at < 1.0
    lock.release()
