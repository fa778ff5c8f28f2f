"""Run experiments of a study here: one (an array task) or all of them, skipping complete runs."""
from __future__ import annotations

import logging
import sys

from config import validate_experiment
from core import train
from results_layout import clear_run, is_complete, run_paths

log = logging.getLogger("scaling")


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(message)s",
                        datefmt="%H:%M:%S", force=True)


def run_one(experiment: dict, rerun: bool = False) -> int:
    """Train one experiment unless it is already complete; exit code 0 on success."""
    setup_logging()
    cfg = validate_experiment(experiment)
    paths = run_paths(cfg.folder_name, cfg.label)
    if is_complete(paths) and not rerun:
        log.info("skip %s/%s: already complete (--rerun to train it again)", cfg.folder_name, cfg.label)
        return 0
    if rerun:
        clear_run(paths)
    log.info("run %s/%s -> %s", cfg.folder_name, cfg.label, paths.csv)
    summary = train(cfg, paths)
    log.info("%s/%s %s after %s steps: loss %s, val_loss %s, %.1f s", cfg.folder_name, cfg.label,
             summary["status"], summary["optimizer_steps"], summary["final_loss"], summary["final_val_loss"],
             summary["elapsed_s"])
    return 0 if summary["status"] in ("complete", "diverged") else 1


def run_all(experiments: list[dict], rerun: bool = False) -> int:
    """Run every experiment in order; returns non-zero if any failed (after trying all)."""
    failures = 0
    for experiment in experiments:
        try:
            failures += run_one(experiment, rerun=rerun) != 0
        except Exception:
            log.exception("%s/%s failed", experiment.get("folder_name"), experiment.get("label"))
            failures += 1
    return 1 if failures else 0
