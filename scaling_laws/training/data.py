"""Token data: built-in byte-level corpus, text files, or nanoGPT-style train.bin/val.bin; batches by step.

Text sources are byte-tokenised (vocabulary 256) and cached once as a token file with a
sha256 fingerprint. Batches are a pure function of (batch_seed, step), so a
resumed run sees exactly the batches an uninterrupted one would, with no sampler state to save.
"""
from __future__ import annotations

import hashlib
import json
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from scaling_laws.config import ConfigError
from scaling_laws.results_layout import atomic_write_bytes, atomic_write_json

STDLIB = "stdlib"
CACHE_ENV = "SCALING_DATA_CACHE"
SPLIT_BLOCKS = 20  # text corpora are cut into this many blocks; data_seed picks the validation ones


class DataError(ConfigError):
    """Data that cannot be trained on; the message says what to provide instead."""


@dataclass(frozen=True)
class TokenData:
    train: np.ndarray  # training tokens (uint8 or uint16, possibly memory-mapped)
    val: np.ndarray  # validation tokens
    name: str  # where the tokens came from
    sha256: str  # fingerprint of the full token stream (train and val)

    def describe(self) -> dict:
        return {"name": self.name, "sha256": self.sha256,
                "train_tokens": int(len(self.train)), "val_tokens": int(len(self.val))}


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "scaling-laws"))


def stdlib_files() -> list[Path]:
    """The running Python's standard-library sources, sorted, minus tests and site-packages."""
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "test", "tests", "idle_test"}
    return sorted(p for p in root.rglob("*.py") if not skip.intersection(p.relative_to(root).parts))


def text_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(path.rglob("*.txt"))


def _cache_key(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        stat = path.stat()
        digest.update(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def cached_byte_tokens(name: str, files: list[Path]) -> tuple[np.ndarray, str]:
    """Concatenated bytes of ``files`` as a memory-mapped uint8 array plus its sha256 (built once)."""
    key = _cache_key(files)
    tokens_path, meta_path = cache_dir() / f"{key}.u8", cache_dir() / f"{key}.json"
    if not (tokens_path.exists() and meta_path.exists()):
        data = b"".join(p.read_bytes() for p in files)
        if not data:
            raise DataError(f"dataset '{name}' is empty: its files hold no bytes")
        atomic_write_bytes(tokens_path, data)
        atomic_write_json(meta_path, {"name": name, "sha256": hashlib.sha256(data).hexdigest(),
                                      "tokens": len(data), "files": len(files)})
    meta = json.loads(meta_path.read_text())
    return np.memmap(tokens_path, dtype=np.uint8, mode="r"), meta["sha256"]


def split_blocks(tokens: np.ndarray, val_fraction: float, data_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic split: cut into SPLIT_BLOCKS blocks, data_seed picks which go to validation."""
    edges = np.linspace(0, len(tokens), SPLIT_BLOCKS + 1).astype(np.int64)
    num_val = max(1, round(val_fraction * SPLIT_BLOCKS))
    val_blocks = set(np.random.default_rng(data_seed).permutation(SPLIT_BLOCKS)[:num_val].tolist())
    parts = {True: [], False: []}
    for block in range(SPLIT_BLOCKS):
        parts[block in val_blocks].append(tokens[edges[block]:edges[block + 1]])
    return np.concatenate(parts[False]), np.concatenate(parts[True])


def _load_bin_pair(folder: Path) -> TokenData:
    train, val = (np.memmap(folder / f"{split}.bin", dtype=np.uint16, mode="r") for split in ("train", "val"))
    digest = hashlib.sha256()
    for split in ("train", "val"):
        with open(folder / f"{split}.bin", "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 24), b""):
                digest.update(chunk)
    return TokenData(train=train, val=val, name=str(folder), sha256=digest.hexdigest())


def load_token_data(spec: str, val_fraction: float, data_seed: int) -> TokenData:
    """Resolve a dataset spec to train/validation token arrays."""
    path = Path(spec)
    if spec != STDLIB and not path.exists():
        raise DataError(f"dataset={spec!r} does not exist; use 'stdlib' or an existing path")
    if spec != STDLIB and (path / "train.bin").exists() and (path / "val.bin").exists():
        return _load_bin_pair(path)
    files = stdlib_files() if spec == STDLIB else text_files(path)
    if not files:
        raise DataError(f"dataset={spec!r} holds no .txt files (nor train.bin/val.bin)")
    name = f"stdlib(python {sysconfig.get_python_version()})" if spec == STDLIB else str(path.resolve())
    tokens, sha256 = cached_byte_tokens(name, files)
    train, val = split_blocks(tokens, val_fraction, data_seed)
    return TokenData(train=train, val=val, name=name, sha256=sha256)


def check_fits(data: TokenData, seq_length: int, vocab_size: int) -> None:
    """Both splits must hold at least one full window, and every token must be < vocab_size."""
    for split, tokens in (("train", data.train), ("val", data.val)):
        if len(tokens) < seq_length + 2:
            raise DataError(f"dataset '{data.name}' {split} split has {len(tokens)} tokens, fewer than "
                            f"seq_length + 2 = {seq_length + 2}; use more data or a shorter seq_length")
        largest = int(tokens.max())
        if largest >= vocab_size:
            raise DataError(f"dataset '{data.name}' has token id {largest} >= vocab_size={vocab_size}; "
                            f"set vocab_size to at least {largest + 1}")


def _windows(tokens: np.ndarray, starts: np.ndarray, seq_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    rows = np.stack([np.asarray(tokens[s:s + seq_length + 1], dtype=np.int64) for s in starts])
    block = torch.from_numpy(rows)
    return block[:, :-1], block[:, 1:]


def train_batch(data: TokenData, batch_size: int, gradient_accumulation_steps: int, seq_length: int,
                batch_seed: int, step: int, micro_step: int, rank: int = 0,
                world_size: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-token targets for one micro-batch; deterministic in its arguments.

    The windows of a whole optimizer step (all ranks, all micro-batches) are drawn together and
    sliced, so what a step trains on does not depend on how it is split across micro-batches or ranks.
    """
    per_rank = batch_size * gradient_accumulation_steps
    rng = np.random.default_rng([batch_seed, step])
    starts = rng.integers(0, len(data.train) - seq_length - 1, size=per_rank * world_size)
    first = rank * per_rank + micro_step * batch_size
    return _windows(data.train, starts[first:first + batch_size], seq_length)


def validation_batches(data: TokenData, num_sequences: int, batch_size: int,
                       seq_length: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A fixed set of evenly spaced validation windows, the same for every model and every eval."""
    starts = np.linspace(0, len(data.val) - seq_length - 1, num_sequences).astype(np.int64)
    return [_windows(data.val, starts[i:i + batch_size], seq_length) for i in range(0, len(starts), batch_size)]
