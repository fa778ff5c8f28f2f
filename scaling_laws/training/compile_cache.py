"""Where torch.compile keeps what it compiled: a folder every node of a cluster sees, so that a run of a
shape some earlier run compiled starts warm on any node, not only on the one that compiled it.

Inductor's own default is node-local (/tmp/torchinductor_$USER): every Slurm array task landing on a new
node compiles cold. The folder holds inductor's FX-graph, AOTAutograd and Triton caches, keyed by torch
version, device and graph; inductor writes its entries by temp file + rename, so concurrent tasks never
read a torn one. A TORCHINDUCTOR_CACHE_DIR set by the user wins.
"""
from __future__ import annotations

import os
from pathlib import Path

from scaling_laws.data.cache import cache_dir

COMPILE_CACHE_ENV = "SCALING_COMPILE_CACHE"  # a folder, or "node" for inductor's node-local default
INDUCTOR_ENV = "TORCHINDUCTOR_CACHE_DIR"


def compile_cache_dir() -> Path | None:
    """$SCALING_COMPILE_CACHE, else inductor/ in the data cache folder ($SCALING_DATA_CACHE or
    ~/.cache/scaling-laws, on the shared home of most clusters); None for "node"."""
    chosen = os.environ.get(COMPILE_CACHE_ENV, "")
    if chosen == "node":
        return None
    return Path(chosen) if chosen else cache_dir() / "inductor"


def use_shared_compile_cache() -> str:
    """Point inductor at compile_cache_dir() unless TORCHINDUCTOR_CACHE_DIR is set, or leave inductor's
    node-local default where that folder cannot be written; what is in use, for the log. Call before the
    first compilation."""
    if INDUCTOR_ENV in os.environ:
        return os.environ[INDUCTOR_ENV]
    folder = compile_cache_dir()
    if folder is None:
        return "node-local (inductor's default)"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        problem = None if os.access(folder, os.W_OK) else "is not writable"
    except OSError as error:
        problem = f"cannot be created ({error.strerror})"
    if problem:  # compiling without a shared cache is slower, never wrong: go on node-local
        return (f"node-local (inductor's default): {folder} {problem}; set {COMPILE_CACHE_ENV} to a writable "
                "folder every node sees")
    os.environ[INDUCTOR_ENV] = str(folder)
    return str(folder)
