"""Shared fixtures: every test writes results into its own temp folder; data cache is per session."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session", autouse=True)
def data_cache(tmp_path_factory):
    """One byte-token cache for the whole session (the stdlib corpus is tokenised once)."""
    cache = tmp_path_factory.mktemp("data_cache")
    os.environ["SCALING_DATA_CACHE"] = str(cache)
    # One intra-op thread per training process: tests run tiny models, and two spinning
    # OpenMP pools on a 2-core machine are many times slower than one.
    os.environ.setdefault("SCALING_CPU_THREADS", "1")
    return cache


@pytest.fixture(autouse=True)
def results_dir(tmp_path, monkeypatch):
    """Results of each test go to its own folder (SCALING_RESULTS_DIR)."""
    root = tmp_path / "results"
    monkeypatch.setenv("SCALING_RESULTS_DIR", str(root))
    return root


# A model small enough to train a few hundred steps in seconds on one CPU core.
TINY = dict(hidden_dim=16, num_layers=1, num_heads=2, seq_length=32, target_effective_batch_size=8,
            max_tokens_training=8 * 32 * 40, eval_interval=10, eval_sequences=16, learning_rate=3e-3,
            warmup_fraction=0.1)


@pytest.fixture
def tiny_fields():
    """Fields of a tiny experiment, as gen_experim overrides (hidden_dim included)."""
    return dict(TINY)


TIMING_COLUMNS = ("tokens_per_second", "elapsed_s", "mfu")  # wall-clock columns: differ between any two runs


def rows_without_timing(csv_path) -> list[dict]:
    """A metrics CSV's rows minus the timing columns: what must match between equivalent runs."""
    from scaling_laws.results_layout import read_metrics_rows
    return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in read_metrics_rows(csv_path)]
