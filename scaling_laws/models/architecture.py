"""What an architecture provides to the rest of the package: one record, one entry per family."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from scaling_laws.counting import ParamCounts

# The rules below take any object with the config's field names as attributes (an
# ExperimentConfig, or a namespace of the fields resolved so far while gen_experim derives the rest).
ConfigLike = Any


# The eager loss (core.Trainer._loss): the fp32 log-softmax output, its gradient and the loss's gradient are
# alive at once, 12 B per logit, whatever the family that made the logits.
EAGER_LOGIT_BYTES = 12


@dataclass(frozen=True)
class MemoryStages:
    """What a family keeps on the device for a training step, beyond parameters and optimizer state."""

    layers_per_sequence: int  # bytes every layer saves for backward, summed over layers, for one sequence
    logits_per_sequence: int  # bytes of logits, log-softmax and their gradients alive at once, one sequence
    weight_copies: int  # bytes of 16-bit weight copies autocast makes and keeps for backward (0 in fp32)
    gradients_with_activations: bool = False  # backward makes the weight gradients before it frees the activations


@dataclass(frozen=True)
class Architecture:
    """The seam between a model family and the framework: build, count, size, derive, check.

    ``build`` returns a module whose embeddings are ``nn.Embedding`` modules and whose untied
    readout, if any, is its ``head`` attribute: what ``non_embedding`` leaves out.
    """

    name: str  # the config's ``architecture`` value
    build: Callable[[ConfigLike], Any]  # an initialised torch module, forward(tokens) -> logits
    param_counts: Callable[[ConfigLike], ParamCounts]  # analytic; equals sum(p.numel()) of build(cfg)
    activation_bytes_per_sequence: Callable[[ConfigLike], int]  # training activations of one sequence
    default_shape: Callable[[Mapping[str, Any]], dict[str, Any]]  # num_layers, num_heads, ffn_dim from the width
    check: Callable[[ConfigLike], None]  # raises ConfigError for a shape this family cannot build
    # Every building-block choice this family reads: field -> allowed values. The count test builds every
    # combination of these and checks the analytic count against numel.
    options: Mapping[str, tuple] = field(default_factory=dict)
    # Training FLOPs per token (forward + backward, attention included), for MFU; None if not counted.
    flops_per_token: Optional[Callable[[ConfigLike], float]] = None
    # (config, models.memory.Precision) -> MemoryStages, for the peak-memory estimator (models/memory.py);
    # None: the estimator uses activation_bytes_per_sequence alone.
    memory_stages: Optional[Callable[[ConfigLike, Any], MemoryStages]] = None
    # Whether use_mup may be set: the family keeps muP's contract (parametrization.py: same parameter names at
    # every width, embeddings as nn.Embedding, readout `head`, residual blocks under `blocks`).
    supports_mup: bool = False
