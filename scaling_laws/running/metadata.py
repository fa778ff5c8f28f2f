"""What a run records about itself next to its metrics: config, data fingerprint, sizes, versions."""
from __future__ import annotations

import platform
import sys

import numpy as np
import torch

from scaling_laws.counting import ParamCounts
from scaling_laws.models.parametrization import mup_multipliers


def run_metadata(cfg, counts: ParamCounts, data, dist, device: torch.device) -> dict:
    """The JSON written to config_<label>.json."""
    return {
        "config": cfg.to_dict(),
        "total_params": counts.total,
        "non_embedding_params": counts.non_embedding,
        "dataset": {**data.describe(), "epochs": data.epochs(cfg.max_tokens_training)},
        "mup": mup_multipliers(cfg),  # {} under the standard parametrization
        "world_size": dist.world_size,
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__, "numpy": np.__version__,
                     "platform": platform.platform()},
    }
