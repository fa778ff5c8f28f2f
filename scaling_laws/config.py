"""The one experiment config schema: typed fields, one comment each, and the checks that need no model.

At the edges (gen_experim's lists, manifests, config JSON) an experiment is a plain dict;
``scaling_laws.validate.validate_experiment`` turns one into an :class:`ExperimentConfig`, adding
the architecture's own checks to :func:`build_config`'s, or raises :class:`ConfigError` naming
the field, the bad value and what is allowed.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Optional

from scaling_laws.migration import field_hint, value_hint

ACTIVATIONS = ("gelu", "relu", "silu", "swiglu", "geglu", "glu")  # the last three gated (models/transformer/mlp.py)
NORMS = ("layernorm", "layernorm_nobias", "rmsnorm", "none")
NORM_PLACEMENTS = ("pre", "post")
POSITION_ENCODINGS = ("learned", "rotary", "sinusoidal")
INIT_SCHEMES = ("scaled", "normal", "small", "xavier_uniform", "kaiming_normal", "torch")
TOKEN_RULES = ("chinchilla", "kaplan")
LR_SCHEDULES = ("cosine", "linear", "constant", "inverse_sqrt", "transformer", "one_cycle")  # training/schedules.py
# Each optimizer and the config fields it reads besides learning_rate (training/optimizers.py builds them).
OPTIMIZER_FIELDS: dict[str, tuple[str, ...]] = {
    "adamw": ("beta1", "beta2", "eps", "weight_decay"),
    "adam": ("beta1", "beta2", "eps", "weight_decay"),
    "sgd": ("momentum", "nesterov", "weight_decay"),
    "rmsprop": ("alpha", "eps", "momentum", "weight_decay"),
    "adagrad": ("eps", "weight_decay"),
}
# Every field some optimizer reads; one the chosen optimizer does not read must keep its default.
TUNABLE_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(f for fields in OPTIMIZER_FIELDS.values() for f in fields))
MUP_OPTIMIZERS = ("adamw", "adam")  # optimizers whose muP learning-rate rules are built
DROPOUT_FIELDS = ("embedding_dropout", "attention_dropout", "residual_dropout")
DTYPES = ("auto", "float32", "bfloat16")
DEVICES = ("auto", "cpu", "cuda")
COMPILE_MODES = ("auto", "on", "off")
CUDA_GRAPH_MODES = ("auto", "on", "off")
MUP_WEIGHT_DECAY_RULES = ("width_scaled", "coupled")
OPTIONAL_INTS = ("mup_base_width", "mup_base_head_dim", "completep_base_depth")  # fields that may be None
COMPILE_ALIASES = {True: "on", False: "off", "true": "on", "false": "off", "1": "on", "0": "off"}
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]{0,127}$")


class ConfigError(ValueError):
    """An experiment config that cannot run; the message says which field and why."""


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """One fully resolved experiment. Every field is set; nothing is derived later.

    Fields without a default are derived by gen_experim (studies/derived.py) when not given.
    """

    # --- identity and results layout ---
    label: str  # run name; results go to results/<folder_name>/<label>.csv
    folder_name: str  # study folder under results/
    # --- architecture ---
    architecture: str = "transformer"  # model family: a name in the models registry (models/__init__.py)
    hidden_dim: int  # model width d (residual stream size)
    num_layers: int  # blocks (gen_experim: max(2, hidden_dim // 64))
    num_heads: int  # attention heads; must divide hidden_dim (gen_experim: head size about 64)
    ffn_dim: int  # MLP inner width (gen_experim: 4d for gelu/relu, ~8d/3 for swiglu)
    activation: str = "gelu"  # MLP nonlinearity: gelu, relu, silu, or gated swiglu, geglu, glu (Shazeer 2020)
    tie_embeddings: bool = True  # share input embedding and output projection weights
    scale_embeddings: bool = False  # token embeddings x sqrt(d), initialised N(0, 1/d): input rms 1, as the sinusoids' (Vaswani et al. 2017 sec. 3.4)
    norm: str = "layernorm"  # normalisation: layernorm (scale and bias), layernorm_nobias (scale), rmsnorm (scale; Zhang & Sennrich 2019) or none
    norm_placement: str = "pre"  # pre: x + f(norm(x)) and a final norm (GPT-2); post: norm(x + f(x)), no final norm (Vaswani et al. 2017)
    position_encoding: str = "learned"  # learned (a trained table), rotary (Su et al. 2021, on q and k) or sinusoidal (Vaswani et al. 2017, fixed)
    bias: bool = False  # biases in every linear layer (attention, MLP, untied head); norms keep their own
    init_scheme: str = "scaled"  # scaled (GPT-2: N(0, 0.02), residual outputs / sqrt(2L)), normal, small, xavier_uniform, kaiming_normal, torch (models/transformer/init.py)
    embedding_dropout: float = 0.0  # dropout on the embedded input (token + position), in [0, 1)
    attention_dropout: float = 0.0  # dropout on the attention probabilities, in [0, 1)
    residual_dropout: float = 0.0  # dropout on each residual branch's output before it is added, in [0, 1)
    vocab_size: int  # token vocabulary (gen_experim: the dataset's, 256 for bytes); may exceed the dataset's, not be below
    seq_length: int = 128  # tokens per training sequence (context length)
    # --- muP and CompleteP (models/mup.py; README, "muP"): hyperparameters tuned at the base shape transfer ---
    use_mup: bool = False  # maximal-update parametrisation (Tensor Programs V, Adam rules); needs mup_base_width
    mup_base_width: Optional[int] = None  # width the hyperparameters were tuned at; muP == SP at this width
    mup_base_head_dim: Optional[int] = None  # head size of the base model; None: this model's (heads grow with width)
    mup_output_multiplier: float = 1.0  # logits x this x mup_base_width / hidden_dim (tuned at the base width)
    mup_embedding_lr_multiplier: float = 1.0  # embeddings' lr x this at every width (tuned at the base width)
    mup_init_multiplier: float = 1.0  # hidden matrices' init std x this at every width (tuned at the base width)
    mup_weight_decay: str = "width_scaled"  # hidden-matrix decay: width_scaled (wd x width/base, lr x wd fixed) or coupled (wd as given)
    completep_alpha: float = 0.0  # depth exponent: branches x (base/L)^alpha; 0 width-only muP, 0.5 depth-muP, 1 CompleteP
    completep_base_depth: Optional[int] = None  # num_layers the hyperparameters were tuned at; needed when completep_alpha > 0
    # --- token budget ---
    token_rule: str = "chinchilla"  # how max_tokens_training is derived: chinchilla (token_to_param_ratio x N) or kaplan (5000 N^0.74, Kaplan et al. 2020 eq. 4.4)
    token_to_param_ratio: float = 20.0  # D/N used to derive max_tokens_training (Chinchilla: 20); read by token_rule=chinchilla
    max_tokens_training: int  # training tokens (gen_experim: token_to_param_ratio x N); the run stops at the first step reaching it
    # --- batch ---
    target_effective_batch_size: int = 32  # sequences per optimizer step, all ranks together (the global batch)
    world_size: int = 1  # processes training the run together (DDP); each takes 1/world_size of the global batch
    batch_size: int  # micro-batch: sequences per forward pass on one device (gen_experim: memory rule)
    gradient_accumulation_steps: int  # micro-batches per optimizer step per rank (target / (batch_size x world_size))
    gpu_memory_gb: float = 80.0  # device memory the micro-batch is sized for at definition time
    target_gpu_memory_usage: float = 0.85  # share of device memory a step may fill (predicted peak + CUDA context)
    micro_batch_fixed: bool = False  # the user set batch_size or gradient_accumulation_steps: never resized at run time
    # --- optimiser and schedule ---
    optimizer: str = "adamw"  # adamw, adam, sgd, rmsprop or adagrad (training/optimizers.py: the fields each reads)
    learning_rate: float = 1e-3  # peak learning rate (lr_schedule=transformer: its factor, see schedules.py)
    lr_schedule: str = "cosine"  # cosine, linear, constant (warmup, then decay), inverse_sqrt, transformer (Vaswani et al. 2017), one_cycle
    warmup_fraction: float = 0.05  # fraction of optimizer steps with linear warmup from 0
    min_lr_ratio: float = 0.1  # floor of the decay, as a fraction of learning_rate
    weight_decay: float = 0.1  # weight decay on matrices (not norms/biases): decoupled for adamw, L2 for the others
    beta1: float = 0.9  # Adam(W) first-moment decay
    beta2: float = 0.95  # Adam(W) second-moment decay
    eps: float = 1e-8  # denominator epsilon of adamw, adam, rmsprop, adagrad
    momentum: float = 0.0  # heavy-ball momentum of sgd and rmsprop, in [0, 1)
    nesterov: bool = False  # Nesterov momentum for sgd (needs momentum > 0)
    alpha: float = 0.99  # rmsprop's squared-gradient smoothing, in [0, 1)
    label_smoothing: float = 0.0  # training objective smoothed toward uniform (Szegedy et al. 2016); the CSV loss stays plain cross-entropy
    grad_clip: float = 1.0  # clip global grad norm at this value; 0 disables clipping
    # --- evaluation ---
    eval_interval: int = 50  # optimizer steps between validation passes (and at the last step)
    eval_sequences: int = 64  # validation windows per pass: fixed, evenly spaced, same for every model
    # --- data ---
    dataset: str = "stdlib"  # "stdlib", a .txt file, a directory of .txt, or a folder made by scaling_laws.data.prepare
    val_fraction: float = 0.1  # share of a byte-level corpus held out for validation (prepared data: split at prepare)
    warn_above_epochs: float = 1.0  # warn (definition, run start) when a run repeats its training split more often
    # --- execution ---
    device: str = "auto"  # auto, cpu or cuda (auto picks cuda when available)
    dtype: str = "auto"  # auto, float32 or bfloat16 (auto: bf16 autocast on CUDA, fp32 on CPU)
    compile: str = "auto"  # torch.compile model + loss: auto (on with CUDA, off on CPU), on or off (True/False read as on/off)
    cuda_graphs: str = "auto"  # replay the compiled step as CUDA graphs: auto (compiled, CUDA, one process, no dropout), on or off
    force_conservative_cpu: bool = False  # CPU threads: half of what the rule takes (training/cpu_threads.py), for a shared node
    # --- seeds ---
    data_seed: int = 0  # train/validation split (which corpus blocks are held out)
    model_seed: int = 0  # weight initialisation
    batch_seed: int = 0  # order of training batches

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def tokens_per_step(self) -> int:
        """Tokens in one optimizer step, all ranks together (target_effective_batch_size x seq_length)."""
        return self.batch_size * self.gradient_accumulation_steps * self.world_size * self.seq_length


FIELD_NAMES = tuple(f.name for f in fields(ExperimentConfig))
REQUIRED = tuple(f.name for f in fields(ExperimentConfig)
                 if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)


def has_dropout(cfg: ExperimentConfig) -> bool:
    return any(getattr(cfg, name) > 0 for name in DROPOUT_FIELDS)


def replays_cuda_graphs(cfg: ExperimentConfig, world_size: int = 1) -> bool:
    """Whether a compiled run on CUDA replays its step as CUDA graphs (training/device.py, uses_cuda_graphs).
    auto: one process (DDP's gradient hooks run between graphs) and no dropout (masks from reseeded generators)."""
    if cfg.compile == "off" or cfg.cuda_graphs == "off":
        return False
    return cfg.cuda_graphs == "on" or (world_size == 1 and not has_dropout(cfg))


def defaults() -> dict[str, Any]:
    """Default value of every field that has one."""
    return {f.name: f.default for f in fields(ExperimentConfig) if f.name not in REQUIRED}


def field_type(name: str) -> type:
    """The Python type a field holds (Optional[int] -> int)."""
    hint = {f.name: f.type for f in fields(ExperimentConfig)}[name]
    return {"str": str, "int": int, "float": float, "bool": bool, "Optional[int]": int}[hint]


def check_known_keys(keys) -> None:
    """Reject keys that are not config fields: the original tool's names get their counterpart
    (migration.py), others the closest field name, and only without either the list of fields."""
    for key in keys:
        if key not in FIELD_NAMES:
            original = field_hint(key, FIELD_NAMES)
            if original:
                raise ConfigError(f"unknown config field '{key}': {original}")
            close = difflib.get_close_matches(key, FIELD_NAMES, n=1)
            hint = f"Did you mean '{close[0]}'?" if close else f"Known fields: {', '.join(FIELD_NAMES)}"
            raise ConfigError(f"unknown config field '{key}'. {hint}")


def _check_types(values: dict[str, Any]) -> None:
    for name, value in values.items():
        expected = field_type(name)
        if value is None and name in OPTIONAL_INTS:
            continue
        ok = isinstance(value, expected) and not (expected is not bool and isinstance(value, bool))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise ConfigError(f"{name}={value!r} has type {type(value).__name__}; expected {expected.__name__}")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _check_choice(name: str, value: Any, allowed: tuple) -> None:
    original = value_hint(name, value)
    _require(value in allowed, f"{name}={value!r} is not allowed; choose one of {', '.join(allowed)}"
                               + (f" ({original})" if original else ""))


# Fields with a fixed set of values, checked as soon as they are given (derivation rules read some of them).
CHOICES = {"activation": ACTIVATIONS, "lr_schedule": LR_SCHEDULES, "norm": NORMS, "norm_placement": NORM_PLACEMENTS,
           "position_encoding": POSITION_ENCODINGS, "init_scheme": INIT_SCHEMES, "token_rule": TOKEN_RULES,
           "optimizer": tuple(OPTIMIZER_FIELDS), "dtype": DTYPES, "device": DEVICES, "compile": COMPILE_MODES,
           "cuda_graphs": CUDA_GRAPH_MODES,
           "mup_weight_decay": MUP_WEIGHT_DECAY_RULES}


def _check_choices(values: dict[str, Any]) -> None:
    for name, allowed in CHOICES.items():
        if name in values:
            _check_choice(name, values[name], allowed)


POSITIVE = ("hidden_dim", "num_layers", "num_heads", "ffn_dim", "vocab_size", "seq_length", "max_tokens_training",
            "target_effective_batch_size", "world_size", "batch_size", "gradient_accumulation_steps", "gpu_memory_gb",
            "learning_rate", "eps", "eval_interval", "eval_sequences", "token_to_param_ratio", "warn_above_epochs",
            "mup_base_width", "mup_base_head_dim", "mup_output_multiplier", "mup_embedding_lr_multiplier",
            "mup_init_multiplier", "completep_base_depth")


def _check_numbers(values: dict[str, Any]) -> None:
    """Every float finite (inf and nan pass a > 0 test, and train nothing), every POSITIVE field > 0."""
    for name, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{name}={value!r} is not a finite number; give a finite value")
        if name in POSITIVE and value is not None:
            _require(value > 0, f"{name}={value!r} must be > 0")


def check_given_fields(values: dict[str, Any]) -> None:
    """The checks that need no other field: names, types, finiteness and sign of the fields given.

    gen_experim runs these before deriving anything, so that a bad value (seq_length=0,
    seq_length='64', target_effective_batch_size=0) is reported as such, not as an error
    inside a derivation rule.
    """
    check_known_keys(values)
    _check_types(values)
    _check_numbers(values)
    _check_choices({k: v for k, v in values.items() if k != "compile"})  # compile=True is an alias, read later


def check_safe_name(name: str, value: str) -> None:
    """Labels and folders become file names: no separators, '..' or shell metacharacters."""
    _require(bool(SAFE_NAME.match(value)) and ".." not in value,
             f"{name}={value!r} is not a safe name: use 1-128 characters from letters, digits and ._+=- "
             "starting with a letter or digit, with no '..'")


def _check_values(cfg: ExperimentConfig) -> None:
    check_safe_name("label", cfg.label)
    check_safe_name("folder_name", cfg.folder_name)
    _check_choices(cfg.to_dict())
    _check_optimizer_fields(cfg)
    for name in DROPOUT_FIELDS + ("label_smoothing",):
        _require(0 <= getattr(cfg, name) < 1, f"{name}={getattr(cfg, name)!r} must be in [0, 1)")
    _check_numbers(cfg.to_dict())
    global_batch = cfg.batch_size * cfg.gradient_accumulation_steps * cfg.world_size
    _require(global_batch == cfg.target_effective_batch_size,
             f"batch_size={cfg.batch_size} x gradient_accumulation_steps={cfg.gradient_accumulation_steps} "
             f"x world_size={cfg.world_size} = {global_batch} != target_effective_batch_size="
             f"{cfg.target_effective_batch_size}; set them so the product is exact")
    _require(0 < cfg.target_gpu_memory_usage <= 1,
             f"target_gpu_memory_usage={cfg.target_gpu_memory_usage!r} must be in (0, 1]: a share of device memory")
    _require(0 <= cfg.warmup_fraction < 1, f"warmup_fraction={cfg.warmup_fraction!r} must be in [0, 1)")
    _require(0 < cfg.val_fraction < 1, f"val_fraction={cfg.val_fraction!r} must be in (0, 1)")
    _require(0 <= cfg.min_lr_ratio <= 1, f"min_lr_ratio={cfg.min_lr_ratio!r} must be in [0, 1]")
    _require(0 <= cfg.beta1 < 1 and 0 <= cfg.beta2 < 1,
             f"beta1={cfg.beta1!r}, beta2={cfg.beta2!r} must each be in [0, 1)")
    _require(0 <= cfg.momentum < 1, f"momentum={cfg.momentum!r} must be in [0, 1)")
    _require(0 <= cfg.alpha < 1, f"alpha={cfg.alpha!r} must be in [0, 1)")
    _require(not cfg.nesterov or cfg.momentum > 0,
             f"nesterov=True needs momentum > 0 (momentum={cfg.momentum!r}); set momentum, e.g. 0.9")
    _require(cfg.weight_decay >= 0, f"weight_decay={cfg.weight_decay!r} must be >= 0")
    _require(cfg.cuda_graphs != "on" or cfg.compile != "off",
             "cuda_graphs='on' replays the compiled step and needs compile='auto' or 'on' (compile='off' given)")
    _require(cfg.grad_clip >= 0, f"grad_clip={cfg.grad_clip!r} must be >= 0 (0 disables clipping)")
    _check_mup(cfg)


def _check_mup(cfg: ExperimentConfig) -> None:
    """muP needs its base width; CompleteP (completep_alpha > 0) needs muP and its base depth."""
    _require(not (cfg.use_mup and cfg.scale_embeddings),
             "scale_embeddings=True with use_mup=True is refused: muP sets the embedding's scale by its own rules "
             "(mup_embedding_lr_multiplier, the init at the base width); remove scale_embeddings or set use_mup=False")
    if cfg.use_mup:
        # muP's per-group rules here are Adam's (Tensor Programs V table 3); SGD has its own table, not built.
        _require(cfg.optimizer in MUP_OPTIMIZERS,
                 f"use_mup=True with optimizer={cfg.optimizer!r} is refused: the muP rules built are Adam's (Tensor "
                 f"Programs V, table 3); choose optimizer={' or '.join(map(repr, MUP_OPTIMIZERS))}, or set use_mup=False")
        _require(cfg.mup_base_width is not None,
                 "use_mup=True needs mup_base_width: the width the learning rate and multipliers were tuned at")
        head_dim = cfg.mup_base_head_dim or cfg.hidden_dim // cfg.num_heads
        _require(cfg.mup_base_width % head_dim == 0,
                 f"mup_base_width={cfg.mup_base_width} does not hold whole heads of size {head_dim} (mup_base_head_dim="
                 f"{cfg.mup_base_head_dim!r}; None means this model's head size): set mup_base_head_dim to the base "
                 "model's head size")
    else:
        for name, unset in (("mup_base_width", None), ("mup_base_head_dim", None), ("mup_output_multiplier", 1.0),
                            ("mup_embedding_lr_multiplier", 1.0), ("mup_init_multiplier", 1.0)):
            _require(getattr(cfg, name) == unset,
                     f"{name}={getattr(cfg, name)!r} is only read with use_mup=True; set use_mup=True or remove it")
        _require(cfg.completep_alpha == 0, f"completep_alpha={cfg.completep_alpha!r} needs use_mup=True "
                                           "(CompleteP builds on muP): set use_mup=True and mup_base_width")
    _require(0 <= cfg.completep_alpha <= 1, f"completep_alpha={cfg.completep_alpha!r} must be in [0, 1] "
                                            "(0 width-only muP, 0.5 depth-muP, 1 CompleteP)")
    if cfg.completep_alpha > 0:
        _require(cfg.completep_base_depth is not None, f"completep_alpha={cfg.completep_alpha!r} needs "
                 "completep_base_depth: the num_layers the hyperparameters were tuned at")
    else:
        _require(cfg.completep_base_depth is None, f"completep_base_depth={cfg.completep_base_depth!r} is only "
                 "read with completep_alpha > 0; set completep_alpha (1 for CompleteP) or remove it")


def _check_optimizer_fields(cfg: ExperimentConfig) -> None:
    """A field that only other optimizers read must keep its default: a value set there would do nothing."""
    reads = OPTIMIZER_FIELDS[cfg.optimizer]
    default = defaults()
    for name in TUNABLE_FIELDS:
        value = getattr(cfg, name)
        _require(name in reads or value == default[name],
                 f"{name}={value!r} is not read by optimizer={cfg.optimizer!r}, which reads {', '.join(reads)}; "
                 f"remove {name} (default {default[name]!r}) or choose an optimizer that reads it: "
                 + ", ".join(opt for opt, fields in OPTIMIZER_FIELDS.items() if name in fields))


def check_dataset_exists(cfg: ExperimentConfig) -> None:
    """A fact about this machine, not the config: validate.py may defer it (see problems_deferred)."""
    _require(cfg.dataset == "stdlib" or Path(cfg.dataset).exists(),
             f"dataset={cfg.dataset!r} does not exist; use 'stdlib' (built in), a .txt file, a directory "
             "of .txt files, or a folder made by `python -m scaling_laws.data.prepare SRC OUT`")


def build_config(experiment: dict[str, Any]) -> ExperimentConfig:
    """The typed config from a dict, rejecting unknown keys, wrong types and bad values (not the
    architecture's shape rules: ``validate.validate_experiment`` adds those)."""
    if not isinstance(experiment, dict):
        raise ConfigError(f"an experiment must be a dict of config fields, got {type(experiment).__name__}")
    check_known_keys(experiment)
    if "compile" in experiment:  # the original tool and older studies say compile=True/False
        value = experiment["compile"]
        experiment = {**experiment, "compile": COMPILE_ALIASES.get(value, value) if isinstance(value, (bool, str)) else value}
    missing = [name for name in REQUIRED if name not in experiment]
    _require(not missing, f"missing required field(s): {', '.join(missing)}; build experiments with "
                          "gen_experim, which derives them")
    _check_types(experiment)
    cfg = ExperimentConfig(**experiment)
    _check_values(cfg)
    return cfg


def parse_override(text: str) -> tuple[str, Any]:
    """Parse a command-line ``key=value`` into a typed (field, value) pair."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not key=value (e.g. learning_rate=3e-3)")
    key, raw = text.split("=", 1)
    check_known_keys([key])
    expected = field_type(key)
    try:
        if expected is bool:
            lowered = raw.lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError
            return key, lowered in ("true", "1")
        if key in OPTIONAL_INTS and raw.lower() == "none":
            return key, None
        if expected is int:
            value = float(raw)
            if not value.is_integer():
                raise ValueError
            return key, int(value)
        return key, expected(raw)
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not a valid {expected.__name__}") from None
