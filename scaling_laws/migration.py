"""The original tool's names, and what each one is here: answers to a migrating user's first errors.

config.check_known_keys asks :func:`field_hint` about a key that is not a field, config's choice
checks ask :func:`value_hint` about a rejected value, gen_experim asks :func:`gpu_type_hint` about
its label, experiment_utils answers imports of the original helpers from ORIGINAL_HELPERS, and
load_study answers the original study names from ORIGINAL_STUDIES. docs/migration.md is the long
form of these tables, with every changed default.

A counterpart field that this version does not have (another issue adds it) is reported as not
available, so the hints stay true before and after it lands.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

MIGRATION_DOC = "docs/migration.md"


@dataclass(frozen=True)
class Counterpart:
    """This project's answer to one of the original's config keys."""

    fields: tuple[str, ...]  # the fields that take its place (empty: nothing to set here)
    note: str  # what differs, or why nothing is needed


def _table(text: str) -> dict[str, Counterpart]:
    """Rows 'key | fields | note' ('-': no field); an indented line continues the note above."""
    rows: dict[str, list[str]] = {}
    for line in text.strip("\n").splitlines():
        if line.startswith(" "):
            rows[last][2] += " " + line.strip()
            continue
        last, fields, note = (part.strip() for part in line.split("|"))
        rows[last] = [last, fields, note]
    return {key: Counterpart(tuple(fields.split()) if fields != "-" else (), note)
            for key, fields, note in rows.values()}


# The original's config keys that are not fields here (the original structure's keys too).
ORIGINAL_FIELDS: dict[str, Counterpart] = _table("""
seed | model_seed batch_seed data_seed | three seeds: weight initialisation, order of training batches,
    train/validation split; create_multi_seed_experiments sets the first two
adam_beta1 | beta1 | same meaning and default 0.9
adam_beta2 | beta2 | same meaning; default 0.95, the original's 0.999
adam_epsilon | eps | same meaning and default 1e-8
warmup_frac | warmup_fraction | same meaning; default 0.05, the original's 0.1
min_lr_multiplier | min_lr_ratio | same meaning and default 0.1
min_lr | min_lr_ratio | a fraction of the peak: min_lr_ratio = min_lr / learning_rate
gradient_clip_val | grad_clip | same meaning and default 1.0
use_gradient_clipping | grad_clip | grad_clip=0 turns clipping off; there is no separate switch
train_split | val_fraction | val_fraction = 1 - train_split; the held-out share is whole corpus blocks chosen
    by data_seed
val_split | val_fraction | same share, default 0.1; held out as whole corpus blocks
fixed_val_tokens | eval_sequences | validation uses eval_sequences fixed windows of seq_length tokens, the same
    for every model (the original's 500k tokens at seq_length 128 is eval_sequences=3906)
data_path | dataset | 'stdlib' (built in), a .txt file or directory of them (byte-level, vocab_size 256), or a
    folder made by python -m scaling_laws.data.prepare (GPT-2 BPE: --tokenizer a GPT-2 tokenizer.json)
results_folder | folder_name | results go to results/<folder_name>/<label>.csv
wikitext_limit | max_tokens_training | a token budget, not characters of text
max_characters | max_tokens_training | a token budget, not characters of text
token_limit | max_tokens_training | same meaning: the run stops at the first step reaching it
ff_ratio | ffn_dim | an absolute width: ffn_dim = ff_ratio x hidden_dim (derived: 4 x hidden_dim, swiglu
    8/3 x hidden_dim)
hidden_size | hidden_dim | one width field for every architecture
gpu_type | gpu_memory_gb | the device memory the micro-batch is sized for, in GB (V100 32, A100 40 or 80,
    H100 80, H200 141); target_gpu_memory_usage of it is used, and the run sizes again for the GPU it gets
use_amp | dtype | dtype='auto' (the default) trains in bf16 autocast on CUDA and fp32 on CPU; 'float32' turns
    mixed precision off (there is no fp16 GradScaler path)
pos_encoding | position_encoding | learned, rotary or sinusoidal; default learned, the original's rotary
norm_type | norm | layernorm or rmsnorm (the original's 'layer' and 'rms'); default layernorm
modern_bias_0 | bias | bias=False drops the biases of linear layers, as modern_bias_0=True did
sgd_momentum | momentum | with optimizer='sgd'; default 0.0 here, the original's 0.9
dropout | embedding_dropout attention_dropout residual_dropout | one dropout is three here; set all three for
    the original's one
sgd_nesterov | nesterov | with optimizer='sgd'
rmsprop_alpha | alpha | with optimizer='rmsprop'
scaling_law | token_rule | chinchilla (D = token_to_param_ratio x N) or kaplan (D proportional to N^0.74); or
    set max_tokens_training per experiment
enable_completep | use_mup mup_base_width completep_alpha completep_base_depth | CompleteP builds on muP:
    use_mup=True with mup_base_width, plus completep_alpha=1.0 and completep_base_depth (README, muP and CompleteP)
n_base | mup_base_width | the width the hyperparameters were tuned at (with use_mup=True)
l_base | completep_base_depth | the depth the hyperparameters were tuned at (with completep_alpha > 0)
eta_base | learning_rate | under muP, learning_rate is the base-width learning rate
wd_base | weight_decay | under muP, weight_decay is the base-width weight decay
eps_base | eps | under muP, eps is the base-width epsilon
mup_scale_lr | use_mup | use_mup=True always scales each parameter group's learning rate
name | folder_name | the original's experiment-group name is the results folder
subexperiments | - | a study returns a flat list of experiments: gen_experim(...) + gen_experim(...)
overrides | - | fields go to gen_experim directly: gen_experim(64, learning_rate=3e-3)
max_epochs | max_tokens_training | runs stop at the token budget, not after epochs
min_epochs | max_tokens_training | runs stop at the token budget, not after epochs
csv_log_interval | eval_interval | every optimizer step is a CSV row; validation runs every eval_interval steps
stride | - | nothing to set: training windows start at random offsets drawn from (batch_seed, step)
pin_memory | - | nothing to set: data is a memory-mapped token file
prefetch_factor | - | nothing to set: data is a memory-mapped token file
use_streaming_dataset | - | nothing to set: text is tokenised once into a memory-mapped cache
char_to_token_ratio | - | nothing to set: budgets are counted in tokens
""")

ORIGINAL_VALUES: dict[tuple[str, str], str] = {
    ("lr_schedule", "cosine_warmup"): "lr_schedule='cosine' is the original's cosine_warmup: linear warmup over "
                                      "warmup_fraction of the steps, then cosine decay to min_lr_ratio x "
                                      "learning_rate (the original's plain 'cosine' had no warmup: "
                                      "warmup_fraction=0)",
    ("lr_schedule", "linear_warmup"): "lr_schedule='linear' is the original's linear_warmup (warmup over "
                                      "warmup_fraction, then linear decay to min_lr_ratio x learning_rate)",
    ("norm", "layer"): "norm='layernorm' is the original's norm_type='layer'",
    ("norm", "rms"): "norm='rmsnorm' is the original's norm_type='rms'",
    ("activation", "swish"): "swish is silu",
    ("init_scheme", "bert_gpt"): "init_scheme='normal' is the original's bert_gpt: N(0, 0.02) everywhere",
}

ORIGINAL_HELPERS: dict[str, str] = {
    "get_base_config": "scaling_laws.config.defaults() returns every field's default (ExperimentConfig is the "
                       "schema; the README's config table lists them)",
    "calculate_transformer_params": "scaling_laws.models.param_counts(cfg).total (embeddings included, exact: "
                                    "equals sum(p.numel()) of the built model)",
    "calculate_non_embedding_params": "scaling_laws.models.param_counts(cfg).non_embedding",
    "estimate_gpu_memory_and_grad_accum": "gen_experim derives batch_size and gradient_accumulation_steps from "
                                          "gpu_memory_gb (scaling_laws/models/memory.py)",
    "gen_lstm_experim": "lstm_model.gen_lstm_experim, or gen_experim(hidden_dim, architecture='lstm'), where this "
                        "version has the LSTM",
    "generate_lr_sweep_summary": "experimental_analysis.best_learning_rates(runs), or python -m "
                                 "experimental_analysis.fit_scaling_analysis results/<folder>",
    "subset_experiments": "filter the list: [e for e in experiments if e['label'] in wanted]",
    "chinchilla_scale": "gen_experim derives max_tokens_training = token_to_param_ratio x N",
}

ORIGINAL_STUDIES: dict[str, str] = {
    "TRANSFORMER_SCALING_EXPERIMENTS": "TRANSFORMER_SCALING",
    "TRANSFORMER_SCALING_EXPERIMENTS_OPTIMAL_LR": "TRANSFORMER_SCALING",
    "TRANSFORMER_LR_TUNE_MUP_STANDARD": "MUP_LR_TRANSFER",
    "BASIC_TEST_EXPERIMENT": "QUICKSTART",
    "LR_EXPERIMENTS": "TRANSFORMER_LR_SWEEP",
}

# What the original's second positional argument of gen_experim was (gpu_type), with the memory it meant.
GPU_MEMORY_GB = {"V100": 32, "P100": 16, "T4": 16, "A10": 24, "A30": 24, "A40": 48, "A100": 80, "A6000": 48,
                 "L4": 24, "L40": 48, "L40S": 48, "H100": 80, "H200": 141, "GH200": 96, "B200": 192,
                 "MI250": 128, "MI300X": 192}


def field_hint(key: str, known_fields: Iterable[str]) -> Optional[str]:
    """What follows "unknown config field 'KEY'" when KEY is one of the original's keys; None if not."""
    counterpart = ORIGINAL_FIELDS.get(key)
    if counterpart is None:
        return None
    names = ", ".join(counterpart.fields)
    if not counterpart.fields:
        answer = counterpart.note
    elif set(known_fields).issuperset(counterpart.fields):
        answer = f"here it is {names}: {counterpart.note}"
    else:
        answer = f"its counterpart here, {names}, is not in this version"
    return f"the original tool's name; {answer}. See {MIGRATION_DOC}"


def value_hint(field: str, value: object) -> Optional[str]:
    """The answer to a rejected value that is one of the original's; None if it is not."""
    return ORIGINAL_VALUES.get((field, value)) if isinstance(value, str) else None


def gpu_type_hint(label: object) -> Optional[str]:
    """If a label is a GPU type (the original's gen_experim(hidden_dim, gpu_type)), what to write instead."""
    if not isinstance(label, str):
        return None
    name = label.upper()
    if name not in GPU_MEMORY_GB:
        return None
    return (f"label={label!r} looks like a GPU type: the original's gen_experim(hidden_dim, gpu_type) took it "
            f"second, here the second argument is the label. For an {name} pass gpu_memory_gb={GPU_MEMORY_GB[name]} "
            f"(the memory the micro-batch is sized for), and name the run with label=... (see {MIGRATION_DOC})")


def helper_hint(name: str) -> Optional[str]:
    if name not in ORIGINAL_HELPERS:
        return None
    return f"{name} is the original tool's helper; here: {ORIGINAL_HELPERS[name]} (see {MIGRATION_DOC})"


def study_hint(name: str, known: Iterable[str]) -> Optional[str]:
    """'the original's X is Y here' when Y is a known study."""
    ours = ORIGINAL_STUDIES.get(name)
    if ours is None and name.endswith("_EXPERIMENTS"):
        ours = name.removesuffix("_EXPERIMENTS")
    if ours is None or ours not in set(known):
        return None
    return f"the original's {name} is {ours} here"
