"""Named studies, chosen by name on the command line: ``python experiments.py DEMO --all``.

Add a study by decorating a function that returns a list of experiments built with
``gen_experim`` and friends. Studies are built (and so validated) only when asked for.
"""
from __future__ import annotations

import os
from pathlib import Path

from experiment_utils import (create_isoflop_experiments, create_multi_lr_experiments, create_multi_seed_experiments,
                              gen_experim)
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


# ----------------------------------------------------------------------------- research axes
# A 2017 transformer (Vaswani et al. 2017: post-norm LayerNorm, sinusoidal positions, token embeddings x sqrt(d),
# ReLU, biases, dropout and label smoothing 0.1, Adam with beta2 0.98, eps 1e-9 and their schedule, Xavier init)
# against a modern one (pre-RMSNorm, rotary, SwiGLU, AdamW, cosine). lr_schedule='transformer' reads learning_rate
# as the paper's factor (1.0 there): the peak is learning_rate / sqrt(hidden_dim x warmup steps). Without the
# sqrt(d) scale the sinusoids drown the N(0, 0.02) tokens and widths 32-64 sat at the unigram loss (docs/multiplier.md).
TRANSFORMER_2017 = dict(norm="layernorm", norm_placement="post", position_encoding="sinusoidal", activation="relu",
                        scale_embeddings=True, bias=True, init_scheme="xavier_uniform", embedding_dropout=0.1,
                        attention_dropout=0.1, residual_dropout=0.1, label_smoothing=0.1, optimizer="adam",
                        beta2=0.98, eps=1e-9, weight_decay=0.0, lr_schedule="transformer")
MODERN = dict(norm="rmsnorm", norm_placement="pre", position_encoding="rotary", activation="swiglu",
              optimizer="adamw", lr_schedule="cosine")


def family_ladder(prefix: str, preset: dict, widths, learning_rates, folder: str, **settings) -> list[dict]:
    """One family: a width ladder, each width at each learning rate (labels '<prefix>_d<d>_lr_<lr>')."""
    ladder = sum((gen_experim(d, label=f"{prefix}_d{d}", folder_name=folder, **{**settings, **preset})
                  for d in widths), [])
    return create_multi_lr_experiments(ladder, learning_rates)


@study("HISTORICAL_SCALING")
def historical_scaling() -> list[dict]:
    """2017 against modern, a width ladder each with its own LR sweep: the compute multiplier between them is
    `python -m experimental_analysis.multiplier results/HISTORICAL_SCALING_lr_sweep --compare 't2017_*' 'modern_*'`."""
    widths, settings = (128, 256, 384, 512, 768), gpu_settings()
    return (family_ladder("t2017", {**TRANSFORMER_2017, "warmup_fraction": 0.04}, widths, (0.125, 0.25, 0.5, 1.0),
                          "HISTORICAL_SCALING", **settings)
            + family_ladder("modern", MODERN, widths, (5e-4, 1e-3, 2e-3, 4e-3), "HISTORICAL_SCALING", **settings))


@study("HISTORICAL_SCALING_TINY")
def historical_scaling_tiny() -> list[dict]:
    """HISTORICAL_SCALING on CPU in minutes: 4 widths x 5 learning rates per family, chosen so that
    each width's best lies inside its grid (the analysis flags one at an edge), built-in corpus."""
    settings = {**DEMO_SETTINGS, "warmup_fraction": 0.1}
    widths = (16, 24, 32, 48)
    return (family_ladder("t2017", TRANSFORMER_2017, widths, (0.1, 0.2, 0.4, 0.8, 1.6), "HISTORICAL_TINY", **settings)
            + family_ladder("modern", MODERN, widths, (6e-3, 1.2e-2, 2.4e-2, 4.8e-2, 9.6e-2), "HISTORICAL_TINY",
                            **settings))


# One GPU for a few minutes (docs/multiplier.md): the built-in corpus (11.5M training bytes), Chinchilla's 20
# tokens per parameter, so the largest width sees the corpus about 1.3 times; 2 seeds per learning rate.
HISTORICAL_SMALL_SETTINGS = dict(seq_length=256, target_effective_batch_size=32, eval_interval=100,
                                 eval_sequences=256, token_to_param_ratio=20.0, compile="off")
# Multipliers of the transformer schedule (peak lr x d^-0.5 x warmup_steps^-0.5; its warmup grows with the run, so
# the best multiplier grows with width). Measured on an H200 with the sqrt(d) embedding scale (docs/multiplier.md):
# best 1/4 at width 32, 1/2 at 96, 1 (the grid's top then) at 128; 2 is there to bracket width 128.
HISTORICAL_SMALL_2017_LRS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0, 2.0)
HISTORICAL_SMALL_MODERN_LRS = (1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2)


@study("HISTORICAL_SCALING_SMALL")
def historical_scaling_small() -> list[dict]:
    """HISTORICAL_SCALING sized for one GPU in minutes (run with --all --per-gpu 8): widths 32-128, depth 4,
    byte vocabulary, each family with its own LR sweep (6 points for 2017, 5 for modern) and 2 seeds."""
    widths = (32, 48, 64, 96, 128)
    return create_multi_seed_experiments(
        family_ladder("t2017", {**TRANSFORMER_2017, "warmup_fraction": 0.04}, widths, HISTORICAL_SMALL_2017_LRS,
                      "HISTORICAL_SMALL", **HISTORICAL_SMALL_SETTINGS)
        + family_ladder("modern", MODERN, widths, HISTORICAL_SMALL_MODERN_LRS, "HISTORICAL_SMALL",
                        **HISTORICAL_SMALL_SETTINGS), (0, 1))


@study("OPTIMIZER_SCALING")
def optimizer_scaling() -> list[dict]:
    """SGD with Nesterov momentum 0.9 against AdamW over widths, each with its own LR sweep (SGD without
    weight decay: torch's SGD decay is L2, which at AdamW's 0.1 would dominate the gradient)."""
    widths, settings = (128, 256, 384, 512), gpu_settings()
    sgd = dict(optimizer="sgd", momentum=0.9, nesterov=True, weight_decay=0.0)
    return (family_ladder("sgd", sgd, widths, (0.03, 0.1, 0.3, 1.0), "OPTIMIZER_SCALING", **settings)
            + family_ladder("adamw", {"optimizer": "adamw"}, widths, (5e-4, 1e-3, 2e-3, 4e-3), "OPTIMIZER_SCALING",
                            **settings))


def one_axis(folder: str, field_values: dict[str, dict], widths=(128, 256, 512)) -> list[dict]:
    """Every width with each variant (name -> fields): labels 'd<d>_<name>'."""
    settings = gpu_settings()
    return [exp for d in widths for name, fields in field_values.items()
            for exp in gen_experim(d, label=f"d{d}_{name}", folder_name=folder, **{**settings, **fields})]


@study("INIT_EXPERIMENTS")
def init_experiments() -> list[dict]:
    return one_axis("INIT_EXPERIMENTS", {scheme: {"init_scheme": scheme} for scheme in
                                         ("scaled", "normal", "small", "xavier_uniform", "kaiming_normal", "torch")})


@study("NORM_EXPERIMENTS")
def norm_experiments() -> list[dict]:
    variants = {f"{norm}_{placement}": {"norm": norm, "norm_placement": placement}
                for norm in ("layernorm", "rmsnorm") for placement in ("pre", "post")}
    return one_axis("NORM_EXPERIMENTS", {**variants, "none": {"norm": "none"}})


@study("POSITION_EXPERIMENTS")
def position_experiments() -> list[dict]:
    return one_axis("POSITION_EXPERIMENTS", {p: {"position_encoding": p} for p in ("learned", "rotary", "sinusoidal")})


@study("LR_SCHEDULE_EXPERIMENTS")
def lr_schedule_experiments() -> list[dict]:
    """The schedules at one peak learning rate (transformer, whose learning_rate is a factor, is HISTORICAL's)."""
    return one_axis("LR_SCHEDULE_EXPERIMENTS", {s: {"lr_schedule": s} for s in
                                                ("cosine", "linear", "constant", "inverse_sqrt", "one_cycle")})


@study("ARCHITECTURE_EXPERIMENTS")
def architecture_experiments() -> list[dict]:
    """norm x position_encoding (issue 16's transformer variants), pre-norm."""
    return one_axis("ARCHITECTURE_EXPERIMENTS", {f"{n}_{p}": {"norm": n, "position_encoding": p}
                                                 for n in ("layernorm", "rmsnorm") for p in ("learned", "rotary")})


# muP and CompleteP (README, "muP and CompleteP"; docs/mup.md has the H200 run): small models on the built-in
# corpus, so they run anywhere without a prepared corpus; one GPU in minutes (`--all --per-gpu 8`). Every size
# gets the same 3.3M-token budget (400 steps of 32 x 256 tokens) and cosine schedule, a factor-2 grid of 8 lrs and
# 2 seeds. Eager: at 400 steps compiling each run costs more than it saves.
TRANSFER_LRS = tuple(2.0 ** k for k in range(-12, -4))  # 2.4e-4 .. 3.1e-2
TRANSFER_SEEDS = (0, 1)
TRANSFER_SETTINGS = dict(seq_length=256, target_effective_batch_size=32, max_tokens_training=400 * 32 * 256,
                         eval_interval=100, eval_sequences=128, compile="off")
# What Tensor Programs V tunes at the base besides the lr, tuned at width 128, depth 4 (docs/mup.md, rounds 1-2):
# untuned (1, 1), muP-512 at the base's lr lost 0.31 nats/byte to SP tuned at 512; tuned, it won by 0.06.
MUP_BASE_TUNING = dict(mup_output_multiplier=4.0, mup_init_multiplier=2.0)


def _lr_sweep(experiments: list[dict]) -> list[dict]:
    return create_multi_seed_experiments(create_multi_lr_experiments(experiments, TRANSFER_LRS), TRANSFER_SEEDS)


@study("MUP_LR_TRANSFER")
def mup_lr_transfer() -> list[dict]:
    """muTransfer across width at fixed depth 4: widths 128 to 1024 (8x), SP vs muP (base width 128, head size
    64, MUP_BASE_TUNING). Under muP the best lr should stay put and match SP tuned per width; under SP it drifts."""
    arms = {"sp": {}, "mup": dict(use_mup=True, mup_base_width=128, **MUP_BASE_TUNING)}
    return _lr_sweep([exp for arm, fields in arms.items() for d in (128, 256, 512, 1024)
                      for exp in gen_experim(d, label=f"{arm}_d{d}", folder_name="MUP_LR_TRANSFER", num_layers=4,
                                             **TRANSFER_SETTINGS, **fields)])


@study("COMPLETEP_LADDER")
def completep_ladder() -> list[dict]:
    """Transfer along gen_experim's ladder, where depth grows with width (max(2, d/64) layers): widths 64 to 512
    (8x; depths 2, 2, 4, 8), three arms: standard, width-only muP (depth still grows: not what it is for) and
    CompleteP (alpha 1); base width 64, base depth 2, MUP_BASE_TUNING for both muP arms."""
    mup = dict(use_mup=True, mup_base_width=64, **MUP_BASE_TUNING)
    arms = {"sp": {}, "mup": mup, "completep": dict(mup, completep_alpha=1.0, completep_base_depth=2)}
    return _lr_sweep([exp for arm, fields in arms.items() for d in (64, 128, 256, 512)
                      for exp in gen_experim(d, label=f"{arm}_d{d}", folder_name="COMPLETEP_LADDER",
                                             num_layers=max(2, d // 64), **TRANSFER_SETTINGS, **fields)])


@study("COMPLETEP_DEPTH")
def completep_depth() -> list[dict]:
    """Transfer across depth alone: width 256, depths 2 to 16 (8x), width-only muP vs CompleteP (alpha 1, base
    depth 2; base width 256, so only the depth multipliers act). Width-only muP's best lr should move with depth,
    CompleteP's stay put."""
    mup = dict(use_mup=True, mup_base_width=256, **MUP_BASE_TUNING)
    arms = {"mup": mup, "completep": dict(mup, completep_alpha=1.0, completep_base_depth=2)}
    return _lr_sweep([exp for arm, fields in arms.items() for depth in (2, 4, 8, 16)
                      for exp in gen_experim(256, label=f"{arm}_L{depth}", folder_name="COMPLETEP_DEPTH",
                                             num_layers=depth, **TRANSFER_SETTINGS, **fields)])
