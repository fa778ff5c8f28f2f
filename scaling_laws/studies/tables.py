"""Text tables for ``experiments.py --list`` and ``--status``: studies, and the runs of one study."""
from __future__ import annotations

from typing import Optional

from scaling_laws.config import ConfigError, ExperimentConfig
from scaling_laws.counting import chinchilla_flops
from scaling_laws.data import DatasetMissing
from scaling_laws.data.spec import run_epochs
from scaling_laws.models import param_counts
from scaling_laws.models.memory import GIB, estimate
from scaling_laws.results_layout import run_paths
from scaling_laws.running.progress import format_duration
from scaling_laws.running.queue import QueuedTask, RunKey
from scaling_laws.running.status import run_state
from scaling_laws.status import FINISHED, RunStatus
from scaling_laws.studies.loader import StudyBuilders, build_study, format_epochs


def format_study_list(studies: StudyBuilders) -> tuple[str, list[str]]:
    """The table of studies, and the error of each study that fails to build (listed as broken).

    A study whose dataset is not prepared yet is not broken: it is listed as needing data, the reason below the table.
    """
    lines = [f"{'study':<26} {'runs':>5} {'params (min..max)':>22} {'total FLOPs':>12} {'max epochs':>10}"]
    errors, waiting = [], {}
    for name, build in sorted(studies.items()):
        try:
            configs = build_study(build, {}, name)
        except ConfigError as error:
            missing = isinstance(error.__cause__, DatasetMissing)
            lines.append(f"{name:<26} {'-':>5} {'needs data (below)' if missing else 'broken (below)':>22} "
                         f"{'-':>12} {'-':>10}")
            if missing:
                waiting.setdefault(str(error.__cause__), []).append(name)
            else:
                errors.append(str(error))
            continue
        sizes = [param_counts(cfg).total for cfg in configs]
        flops = sum(chinchilla_flops(size, cfg.max_tokens_training) for size, cfg in zip(sizes, configs))
        most_epochs = max(run_epochs(cfg) for cfg in configs)
        lines.append(f"{name:<26} {len(configs):>5} {_si(min(sizes)) + '..' + _si(max(sizes)):>22} {flops:>12.2e} "
                     f"{format_epochs(most_epochs):>10}")
    lines += [f"needs data: {', '.join(names)}: {reason}" for reason, names in waiting.items()]
    return "\n".join(lines), errors


def format_study_table(configs: list[ExperimentConfig]) -> str:
    header = (f"{'index':>5}  {'label':<24} {'params':>8} {'tokens':>8} {'epochs':>7} {'FLOPs':>9} "
              f"{'micro x accum':>13} {'peak GiB':>8}  status")
    lines = [header]
    for index, cfg in enumerate(configs):
        total = param_counts(cfg).total
        batching = f"{cfg.batch_size} x {cfg.gradient_accumulation_steps}"
        lines.append(f"{index:>5}  {cfg.label:<24} {_si(total):>8} {_si(cfg.max_tokens_training):>8} "
                     f"{format_epochs(run_epochs(cfg)):>7} {chinchilla_flops(total, cfg.max_tokens_training):>9.2e} "
                     f"{batching:>13} {estimate(cfg).device_bytes / GIB:>8.2f}  "
                     f"{run_state(run_paths(cfg), cfg=cfg).status}")
    return "\n".join(lines)


def _si(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def _task(task: tuple[int, int] | None) -> str:
    return "-" if task is None else f"{task[0]}/{task[1]}"


def _number(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_status_table(configs: list[ExperimentConfig], now: Optional[float] = None,
                        queue: Optional[dict[RunKey, QueuedTask]] = None, queue_note: Optional[str] = None,
                        problems: Optional[dict[tuple[str, str], str]] = None,
                        tasks: Optional[dict[tuple[str, str], tuple[int, int]]] = None) -> str:
    """One line per run: status, last step, share of the token budget, losses, ETA, heartbeat, last write and
    the array task that holds it (``tasks``: (folder, label) -> (task, number of tasks)); then the counts,
    the study's ETA, and every run's problem (error, changed config, unreadable file)."""
    tasks = tasks or {}
    header = (f"{'index':>5}  {'label':<24} {'status':<12} {'step':>7} {'tokens':>7} {'loss':>8} "
              f"{'val_loss':>8} {'ETA':>6} {'heartbeat':>9} {'last write':>10} {'task':>7}")
    lines, counts, notes, states = [header], {}, [], []
    for index, cfg in enumerate(configs):
        state = run_state(run_paths(cfg), now, cfg=cfg, queue=queue)
        states.append(state)
        counts[state.status] = counts.get(state.status, 0) + 1
        share = None if state.tokens_processed is None else state.tokens_processed / cfg.max_tokens_training
        lines.append(f"{index:>5}  {cfg.label:<24} {state.status:<12} {_number(state.last_step, 'd'):>7} "
                     f"{_number(share, '.0%'):>7} {_number(state.loss, '.4f'):>8} "
                     f"{_number(state.val_loss, '.4f'):>8} {format_duration(state.eta_s):>6} "
                     f"{format_duration(state.heartbeat_age_s):>9} {format_duration(state.age_s):>10} "
                     f"{_task(tasks.get((cfg.folder_name, cfg.label))):>7}")
        notes += _run_notes(cfg, state, (problems or {}).get((cfg.folder_name, cfg.label)))
    lines.append(", ".join(f"{counts[s]} {s}" for s in RunStatus if s in counts))
    lines.append(study_eta_line(configs, states))
    if queue_note:
        lines.append(queue_note)
    return "\n".join(lines + (["problems:"] + notes if notes else []))


def _run_notes(cfg: ExperimentConfig, state, problem: Optional[str]) -> list[str]:
    notes = []
    if state.error:
        notes.append(f"  {cfg.label}: {state.status}: {state.error} (see {run_paths(cfg).log})")
    if state.status == RunStatus.RUNNING and state.heartbeat_host and not state.eta_s:
        notes.append(f"  {cfg.label}: running on {state.heartbeat_host}, no step written yet")
    if state.queued and state.status not in (RunStatus.QUEUED, RunStatus.REQUEUED, RunStatus.RUNNING):
        notes.append(f"  {cfg.label}: {state.queued}")
    if problem:
        notes.append(f"  {cfg.label}: {problem}")
    return notes


def study_eta_line(configs: list[ExperimentConfig], states: list) -> str:
    """The study's ETA: the compute its unfinished runs still need over the rate of the runs running now."""
    remaining, rate, running = 0.0, 0.0, 0
    for cfg, state in zip(configs, states):
        if state.status in FINISHED:
            continue
        total = param_counts(cfg).total
        done = state.tokens_processed or 0
        remaining += chinchilla_flops(total, max(0, cfg.max_tokens_training - done))
        if state.status == RunStatus.RUNNING and done and state.elapsed_s:
            rate += chinchilla_flops(total, done) / state.elapsed_s
            running += 1
    if remaining == 0:
        return "study ETA: done"
    if rate == 0:
        return f"study ETA: - ({remaining:.2e} FLOPs left; no run is running now to measure a rate)"
    return (f"study ETA: {format_duration(remaining / rate)} ({remaining:.2e} FLOPs left at {rate:.2e} FLOP/s, "
            f"the rate of the {running} run(s) running now)")
