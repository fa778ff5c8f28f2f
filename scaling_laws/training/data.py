"""Token data for training: a ``dataset=`` value opened as train/validation token arrays; batches by step.

What a dataset value names, and how byte-level corpora are split, is scaling_laws/data/spec.py;
prepared datasets (train.bin / val.bin + meta.json) come from ``python -m scaling_laws.data.prepare``.
Opening reads no token: byte-level text is tokenised once into a memory-mapped cache file; prepared
files are checked against meta.json by size, and their sha256 comes from a cache keyed by size and
mtime (scaling_laws/data/cache.py). Batches are a pure function of (batch_seed, step), so a resumed
run sees exactly the batches an uninterrupted one would, with no sampler state to save.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from scaling_laws.data import DataError
from scaling_laws.data.cache import HASH_CHUNK_BYTES, cache_dir, file_fingerprints, file_lock
from scaling_laws.data.meta import SPLITS, bin_path, check_token_files, read_meta
from scaling_laws.data.spec import (BYTE_VOCAB_SIZE, SPLIT_BLOCKS, STDLIB, block_edges, byte_sources, epochs,
                                    is_prepared, validation_blocks)
from scaling_laws.results_layout import atomic_write_json

__all__ = ["DataError", "TokenData", "load_token_data", "check_fits", "warn_if_repeating", "train_batch",
           "validation_batches", "SPLIT_BLOCKS"]
BYTE_CACHE_VERSION = "v2"  # bump when the cache files change shape: old entries are then rebuilt
log = logging.getLogger("scaling")


@dataclass(frozen=True)
class TokenData:
    train: np.ndarray  # training tokens (uint8, uint16 or uint32, memory-mapped)
    val: np.ndarray  # validation tokens
    name: str  # where the tokens came from
    sha256: str  # fingerprint: of the byte stream (text) or of the two token files (prepared)
    vocab_size: int  # the tokenizer's vocabulary (256 for bytes)
    max_token_id: int  # the largest token id in train or val, known without a scan
    tokenizer: str  # bytes, bpe, pretrained or external

    def describe(self) -> dict:
        return {"name": self.name, "sha256": self.sha256, "train_tokens": int(len(self.train)),
                "val_tokens": int(len(self.val)), "vocab_size": self.vocab_size, "tokenizer": self.tokenizer}

    def epochs(self, tokens: int) -> float:
        """Passes over the training split that training on ``tokens`` makes."""
        return epochs(tokens, len(self.train))


def _cache_key(files: list[Path]) -> str:
    digest = hashlib.sha256(BYTE_CACHE_VERSION.encode())
    for path in files:
        stat = path.stat()
        digest.update(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def _build_byte_cache(name: str, files: list[Path], tokens_path: Path, meta_path: Path) -> None:
    """Concatenate ``files`` into ``tokens_path`` a chunk at a time, hashing as it goes; meta last."""
    digest, total, largest = hashlib.sha256(), 0, -1
    fd, tmp = tempfile.mkstemp(dir=tokens_path.parent, prefix=f".{tokens_path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            for path in files:
                with open(path, "rb") as handle:
                    for chunk in iter(lambda: handle.read(HASH_CHUNK_BYTES), b""):
                        out.write(chunk)
                        digest.update(chunk)
                        total += len(chunk)
                        largest = max(largest, int(np.frombuffer(chunk, dtype=np.uint8).max()))
            out.flush()
            os.fsync(out.fileno())
        if total == 0:
            raise DataError(f"dataset '{name}' is empty: its files hold no bytes")
        os.replace(tmp, tokens_path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    atomic_write_json(meta_path, {"name": name, "sha256": digest.hexdigest(), "tokens": total,
                                  "files": len(files), "max_token_id": largest})


def cached_byte_tokens(name: str, files: list[Path]) -> tuple[np.ndarray, dict]:
    """Concatenated bytes of ``files`` as a memory-mapped uint8 array plus the cache's record of them
    (sha256, max_token_id), built once: concurrent openers wait for the first under a lock."""
    key = _cache_key(files)
    tokens_path, meta_path = cache_dir() / f"{key}.u8", cache_dir() / f"{key}.json"
    with file_lock(cache_dir() / f"{key}.lock"):
        if not (tokens_path.exists() and meta_path.exists()):
            _build_byte_cache(name, files, tokens_path, meta_path)
    return np.memmap(tokens_path, dtype=np.uint8, mode="r"), json.loads(meta_path.read_text())


def split_blocks(tokens: np.ndarray, val_fraction: float, data_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic split: cut into SPLIT_BLOCKS blocks, data_seed picks which go to validation."""
    edges, held_out = block_edges(len(tokens)), validation_blocks(val_fraction, data_seed)
    parts = {True: [], False: []}
    for block in range(SPLIT_BLOCKS):
        parts[block in held_out].append(tokens[edges[block]:edges[block + 1]])
    return np.concatenate(parts[False]), np.concatenate(parts[True])


def _open_tokens(path: Path, dtype: str, count: int) -> np.ndarray:
    return np.memmap(path, dtype=dtype, mode="r") if count else np.zeros(0, dtype=dtype)


def load_prepared(folder: Path) -> TokenData:
    """train.bin / val.bin as meta.json describes them, refused if their size or content changed."""
    meta = read_meta(folder)
    check_token_files(folder, meta)
    names = {split: bin_path(folder, split).name for split in SPLITS}
    found = file_fingerprints(folder, tuple(names.values())).sha256
    for split, name in names.items():
        if found[name] != meta.sha256[split]:
            raise DataError(f"{bin_path(folder, split)} changed since its meta.json was written (sha256 "
                            f"{found[name][:12]}..., meta.json says {meta.sha256[split][:12]}...); prepare it again")
    train, val = (_open_tokens(bin_path(folder, split), meta.dtype, meta.tokens[split]) for split in SPLITS)
    return TokenData(train=train, val=val, name=str(Path(folder).resolve()), sha256=meta.fingerprint,
                     vocab_size=meta.vocab_size, max_token_id=meta.max_token_id,
                     tokenizer=meta.tokenizer.get("kind", "external"))


def load_token_data(spec: str, val_fraction: float, data_seed: int) -> TokenData:
    """Resolve a dataset spec to train/validation token arrays."""
    if spec != STDLIB and is_prepared(Path(spec)):
        return load_prepared(Path(spec))
    name, files = byte_sources(spec)
    tokens, record = cached_byte_tokens(name, files)
    train, val = split_blocks(tokens, val_fraction, data_seed)
    return TokenData(train=train, val=val, name=name, sha256=record["sha256"], vocab_size=BYTE_VOCAB_SIZE,
                     max_token_id=record["max_token_id"], tokenizer="bytes")


def check_fits(data: TokenData, seq_length: int, vocab_size: int) -> None:
    """Both splits must hold at least one full window, and vocab_size must cover the dataset's vocabulary
    and its largest token id."""
    for split, tokens in (("train", data.train), ("val", data.val)):
        if len(tokens) < seq_length + 2:
            raise DataError(f"dataset '{data.name}' {split} split has {len(tokens)} tokens, fewer than "
                            f"seq_length + 2 = {seq_length + 2}; use more data or a shorter seq_length")
    if vocab_size < data.vocab_size:  # a config frozen before the dataset was prepared again, say
        raise DataError(f"dataset '{data.name}' has a vocabulary of {data.vocab_size} tokens, more than "
                        f"vocab_size={vocab_size}; set vocab_size to at least {data.vocab_size}")
    if data.max_token_id >= vocab_size:
        raise DataError(f"dataset '{data.name}' has token id {data.max_token_id} >= vocab_size={vocab_size}; "
                        f"set vocab_size to at least {data.max_token_id + 1}")


def warn_if_repeating(data: TokenData, cfg) -> float:
    """Log a warning at run start when the run passes over its training split more than cfg.warn_above_epochs
    times; returns the number of epochs."""
    passes = data.epochs(cfg.max_tokens_training)
    if passes > cfg.warn_above_epochs:
        log.warning("%s: %.3g epochs over the %s training tokens of %s, more than warn_above_epochs=%g: its loss "
                    "measures memorisation as much as learning; train on more data", cfg.label, passes,
                    f"{len(data.train):,}", data.name, cfg.warn_above_epochs)
    return passes


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
