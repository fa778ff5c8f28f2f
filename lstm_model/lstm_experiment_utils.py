"""Building LSTM studies: ``gen_lstm_experim`` and the width rule that matches a transformer's size.

``gen_lstm_experim`` is ``gen_experim`` with ``architecture="lstm"`` and ``world_size=2`` (each LSTM run
trains data-parallel on 2 processes, as in the original tool): the same contract (a one-element list,
pure, validated, the analytic parameter count equal to ``numel``, the token budget and micro-batch
from the same rules in scaling_laws/studies/derived.py). The model is scaling_laws/models/lstm/.

Shape rule: 2 layers at every width (scaling_laws.models.lstm.DEFAULT_NUM_LAYERS); the width sets the
size, N_non_embedding = 2 (8 d^2 + 8 d) + 2 d, about 16 d^2. ``lstm_width_for`` inverts it, so an LSTM
study can cover the same non-embedding range as a transformer one (README, "LSTMs").
"""
from __future__ import annotations

import math
from typing import Any, Optional

from scaling_laws.config import ConfigError
from scaling_laws.models.lstm import DEFAULT_NUM_LAYERS, layer_params
from scaling_laws.studies.build import gen_experim

LSTM_WORLD_SIZE = 2  # processes per LSTM run (DDP), as the original tool trained them on 2 GPUs
WIDTH_MULTIPLE = 8  # widths rounded to a multiple of 8: tensor-core and cuDNN friendly


def gen_lstm_experim(hidden_size: int, label: Optional[str] = None, folder_name: Optional[str] = None,
                     **overrides: Any) -> list[dict[str, Any]]:
    """One fully resolved, validated LSTM experiment as a one-element list (label default 'lstm<hidden_size>').

    Any config field may be overridden (num_layers, world_size=1, tie_embeddings=False, ...).
    """
    if "architecture" in overrides and overrides["architecture"] != "lstm":
        raise ConfigError(f"architecture={overrides['architecture']!r}: gen_lstm_experim builds LSTMs only; "
                          "use gen_experim for other families")
    fields = {"architecture": "lstm", "world_size": LSTM_WORLD_SIZE, **overrides}
    return gen_experim(hidden_size, label=label if label is not None else f"lstm{hidden_size}",
                       folder_name=folder_name, **fields)


def lstm_width_for(non_embedding_params: int, num_layers: int = DEFAULT_NUM_LAYERS) -> int:
    """The multiple of 8 whose num_layers-layer LSTM has the non-embedding count nearest the given one
    (e.g. a transformer's, to compare the two at equal N as Kaplan et al. 2020 fig. 7 does)."""
    if non_embedding_params <= 0:
        raise ConfigError(f"non_embedding_params={non_embedding_params!r} must be > 0")
    guess = math.sqrt(non_embedding_params / (8 * num_layers))
    candidates = {max(WIDTH_MULTIPLE, WIDTH_MULTIPLE * round(guess / WIDTH_MULTIPLE) + step * WIDTH_MULTIPLE)
                  for step in (-1, 0, 1)}
    return min(candidates, key=lambda d: abs(num_layers * layer_params(d) + 2 * d - non_embedding_params))
