"""Building studies: ``gen_experim`` and the sweep helpers (thin faces over scaling_laws.studies).

Each returns a list of fully resolved, validated experiment dicts, so studies compose with ``+``.
Derivation rules (each overridable by passing the field explicitly) are one table,
``scaling_laws/studies/derived.py``:
- num_layers = max(2, hidden_dim // 64)            (aspect ratio d/L of about 64, as GPT-2 small)
- num_heads  = the largest divisor of hidden_dim that is <= max(1, hidden_dim // 64)  (head size ~64)
- ffn_dim    = 4 x hidden_dim for gelu/relu; for swiglu 8/3 x hidden_dim rounded up to a multiple of 8
- max_tokens_training = round(token_to_param_ratio x N), N = total parameters, ratio 20 by default
- batch_size x gradient_accumulation_steps == target_effective_batch_size, batch_size the largest
               divisor whose predicted step fits target_gpu_memory_usage x gpu_memory_gb (scaling_laws/models/memory.py)
- label = "d<hidden_dim>", folder_name = "default"
"""
from scaling_laws.migration import helper_hint
from scaling_laws.models.transformer import default_ffn_dim, default_num_heads, default_num_layers
from scaling_laws.studies.build import (DEFAULT_FOLDER, create_isoflop_experiments, create_multi_lr_experiments,
                                        create_multi_seed_experiments, format_lr, gen_experim, with_overrides)

__all__ = ["gen_experim", "with_overrides", "create_multi_lr_experiments", "create_isoflop_experiments",
           "create_multi_seed_experiments", "format_lr", "default_num_layers", "default_num_heads",
           "default_ffn_dim", "DEFAULT_FOLDER"]


def __getattr__(name: str):
    """`from experiment_utils import get_base_config` (an original helper) says what replaces it."""
    hint = helper_hint(name)
    if hint:  # ImportError, not AttributeError: `from ... import` would replace the message with its own
        raise ImportError(hint, name=name)
    raise AttributeError(f"module 'experiment_utils' has no attribute {name!r}")
