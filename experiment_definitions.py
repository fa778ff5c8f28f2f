"""Named studies, chosen by name on the command line: ``python experiments.py DEMO --all``.

Add a study by decorating a function that returns a list of experiments built with
``gen_experim`` and friends. Studies are built (and so validated) only when asked for.
"""
from __future__ import annotations

from experiment_utils import create_isoflop_experiments, create_multi_lr_experiments, gen_experim
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


# GPU-sized: context 512, 64 sequences (32k tokens) per step, Chinchilla-optimal budgets.
GPU_SETTINGS = dict(seq_length=512, target_effective_batch_size=64, learning_rate=1e-3, eval_interval=200,
                    eval_sequences=256)


@study("TRANSFORMER_SCALING")
def transformer_scaling() -> list[dict]:
    return sum((gen_experim(d, folder_name="TRANSFORMER_SCALING", **GPU_SETTINGS)
                for d in (128, 192, 256, 384, 512, 768, 1024)), [])


@study("TRANSFORMER_LR_SWEEP")
def transformer_lr_sweep() -> list[dict]:
    widths = sum((gen_experim(d, folder_name="TRANSFORMER", **GPU_SETTINGS) for d in (128, 256, 512)), [])
    return create_multi_lr_experiments(widths, [5e-4, 1e-3, 2e-3, 4e-3])


@study("ACTIVATION_EXPERIMENTS")
def activation_experiments() -> list[dict]:
    return [exp for d in (128, 256, 512) for act in ("gelu", "relu", "swiglu")
            for exp in gen_experim(d, label=f"d{d}_{act}", folder_name="ACTIVATION_EXPERIMENTS",
                                   activation=act, **GPU_SETTINGS)]


# Seconds per run on one CPU core: checks that an installation or a cluster works end to end.
SMOKE_SETTINGS = dict(num_layers=1, seq_length=32, target_effective_batch_size=8, max_tokens_training=8 * 32 * 30,
                      eval_interval=10, eval_sequences=16, learning_rate=3e-3)


@study("SMOKE")
def smoke() -> list[dict]:
    return sum((gen_experim(d, folder_name="SMOKE", **SMOKE_SETTINGS) for d in (8, 12, 16, 20, 24, 32)), [])
