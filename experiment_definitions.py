"""Named studies, chosen by name on the command line: ``python experiments.py DEMO --all``.

Add a study by decorating a function that returns a list of experiments built with
``gen_experim`` and friends. Studies are built (and so validated) only when asked for.
"""
from __future__ import annotations

import os
from pathlib import Path

from experiment_utils import create_isoflop_experiments, create_multi_lr_experiments, gen_experim
from lstm_model import gen_lstm_experim, lstm_width_for
from scaling_laws.data import DatasetMissing
from scaling_laws.studies.registry import STUDIES, study

__all__ = ["STUDIES", "study"]

@study("QUICKSTART")
def quickstart() -> list[dict]:
    """What `python experiments.py` alone runs: one small transformer, seconds on one CPU core."""
    return gen_experim(16, folder_name="QUICKSTART", seq_length=64, target_effective_batch_size=16,
                       learning_rate=3e-3, eval_interval=50, eval_sequences=32)


# Small enough for 2 CPU cores in a few minutes; big enough that loss falls with width.
DEMO_SETTINGS = dict(seq_length=64, target_effective_batch_size=32, learning_rate=3e-3, eval_interval=50,
                     eval_sequences=128, warmup_fraction=0.05, token_to_param_ratio=20.0)


DEMO_FLOP_BUDGETS = (1e11, 2e11)  # the optimal N here is about 10k-15k parameters: widths 8-32 bracket it


@study("DEMO")
def demo() -> list[dict]:
    """A Chinchilla-optimal ladder (loss falls with size) plus IsoFLOP profiles, so that N and D
    vary independently and every fit (Approaches 1-3, Kaplan) has data it can use."""
    ladder = sum((gen_experim(d, folder_name="DEMO", **DEMO_SETTINGS) for d in (16, 24, 32, 48)), [])
    isoflop_widths = sum((gen_experim(d, folder_name="DEMO", **DEMO_SETTINGS) for d in (8, 12, 16, 24, 32)), [])
    return ladder + create_isoflop_experiments(isoflop_widths, DEMO_FLOP_BUDGETS)


# The GPU studies need far more tokens than the built-in corpus holds (at 20 tokens per parameter, width
# 1024 would pass over it hundreds of times), so they train on a corpus you prepare once (README, Data):
#     python -m scaling_laws.data.prepare CORPUS data/gpu_corpus --tokenizer bpe --vocab-size 32768
# GPU_DATASET names that folder: set $SCALING_GPU_DATASET or edit the default. Until the folder exists these
# studies stop at definition time, saying so.
GPU_DATASET = os.environ.get("SCALING_GPU_DATASET", str(Path(__file__).resolve().parent / "data" / "gpu_corpus"))

# GPU-sized: context 512, 64 sequences (32k tokens) per step, Chinchilla-optimal budgets (benchmarks/ use these too).
GPU_SETTINGS = dict(seq_length=512, target_effective_batch_size=64, learning_rate=1e-3, eval_interval=200,
                    eval_sequences=256)


def gpu_settings() -> dict:
    """GPU_SETTINGS on GPU_DATASET, once it exists."""
    if not Path(GPU_DATASET).exists():
        raise DatasetMissing(f"the GPU studies train on GPU_DATASET={GPU_DATASET!r}, which does not exist yet: "
                             f"prepare a corpus there with `python -m scaling_laws.data.prepare CORPUS {GPU_DATASET} "
                             "--tokenizer bpe --vocab-size 32768`, or point $SCALING_GPU_DATASET at a prepared one")
    return {**GPU_SETTINGS, "dataset": GPU_DATASET}


@study("TRANSFORMER_SCALING")
def transformer_scaling() -> list[dict]:
    return sum((gen_experim(d, folder_name="TRANSFORMER_SCALING", **gpu_settings())
                for d in TRANSFORMER_WIDTHS), [])


@study("TRANSFORMER_LR_SWEEP")
def transformer_lr_sweep() -> list[dict]:
    widths = sum((gen_experim(d, folder_name="TRANSFORMER", **gpu_settings()) for d in (128, 256, 512)), [])
    return create_multi_lr_experiments(widths, [5e-4, 1e-3, 2e-3, 4e-3])


@study("ACTIVATION_EXPERIMENTS")
def activation_experiments() -> list[dict]:
    return [exp for d in (128, 256, 512) for act in ("gelu", "relu", "swiglu")
            for exp in gen_experim(d, label=f"d{d}_{act}", folder_name="ACTIVATION_EXPERIMENTS",
                                   activation=act, **gpu_settings())]


TRANSFORMER_WIDTHS = (128, 192, 256, 384, 512, 768, 1024)  # TRANSFORMER_SCALING's ladder


def transformer_non_embedding(width: int) -> int:
    """Non-embedding parameters of gen_experim's transformer at this width (no dataset needed: N excludes V)."""
    from scaling_laws.models import param_counts
    from scaling_laws.validate import validate_experiment
    return param_counts(validate_experiment(gen_experim(width)[0])).non_embedding


def matched_lstm_width(transformer_width: int) -> int:
    """The 2-layer LSTM width with the transformer's non-embedding count (README, "LSTMs")."""
    return lstm_width_for(transformer_non_embedding(transformer_width))


@study("LSTM_SCALING")
def lstm_scaling() -> list[dict]:
    """LSTMs over TRANSFORMER_SCALING's non-embedding range (widths 160 to 3544), 2 ranks each (DDP)."""
    return sum((gen_lstm_experim(matched_lstm_width(d), folder_name="LSTM_SCALING", **gpu_settings())
                for d in TRANSFORMER_WIDTHS), [])


@study("LSTM_VS_TRANSFORMER")
def lstm_vs_transformer() -> list[dict]:
    """Both families at equal non-embedding parameters in one folder (Kaplan et al. 2020 fig. 7): the analysis
    draws them on one loss-vs-N figure."""
    folder = "LSTM_VS_TRANSFORMER"
    return sum((gen_experim(d, label=f"transformer_d{d}", folder_name=folder, **gpu_settings())
                + gen_lstm_experim(matched_lstm_width(d), label=f"lstm_d{matched_lstm_width(d)}",
                                   folder_name=folder, **gpu_settings())
                for d in (128, 256, 512, 1024)), [])


# Seconds per run on one CPU core: checks that an installation or a cluster works end to end.
SMOKE_SETTINGS = dict(num_layers=1, seq_length=32, target_effective_batch_size=8, max_tokens_training=8 * 32 * 30,
                      eval_interval=10, eval_sequences=16, learning_rate=3e-3)


@study("SMOKE")
def smoke() -> list[dict]:
    return sum((gen_experim(d, folder_name="SMOKE", **SMOKE_SETTINGS) for d in (8, 12, 16, 20, 24, 32)), [])
