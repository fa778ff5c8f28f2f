"""What a ``dataset=`` value names, known without reading its tokens: kind, vocabulary, split sizes.

Three kinds:
- ``"stdlib"``: the running Python's standard-library sources, byte-level (vocabulary 256);
- a .txt file or a folder of them, byte-level, concatenated in sorted order;
- a prepared folder: train.bin / val.bin described by a meta.json (see meta.py and prepare.py).

Byte-level corpora are split here too: cut into SPLIT_BLOCKS blocks, ``data_seed`` picks which
ones are held out for validation. Definition time (vocab_size, epochs, --list) asks ``summarize``;
the training loader asks for the same files and the same split, so both agree by construction.
"""
from __future__ import annotations

import sysconfig
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from scaling_laws.data import DataError
from scaling_laws.data.meta import META_NAME, bin_path, read_meta
from scaling_laws.data.sources import JSONL_SUFFIXES, PARQUET_SUFFIXES

STDLIB = "stdlib"
BYTE_VOCAB_SIZE = 256
SPLIT_BLOCKS = 20  # byte-level corpora are cut into this many blocks; data_seed picks the validation ones
NOT_TEXT_SUFFIXES = JSONL_SUFFIXES + PARQUET_SUFFIXES + (".arrow", ".bin", ".json")  # corpora to prepare first
PREPARE_HINT = "python -m scaling_laws.data.prepare SRC {out} --tokenizer bpe --vocab-size 32768"


@dataclass(frozen=True)
class DatasetSummary:
    """A dataset as definition time sees it."""

    name: str  # where the tokens come from
    kind: str  # "bytes" (stdlib or text, tokenised on first use) or "prepared" (meta.json)
    vocab_size: int  # the tokenizer's vocabulary
    train_tokens: int  # tokens in the training split
    val_tokens: int  # tokens in the validation split


def stdlib_files() -> list[Path]:
    """The running Python's standard-library sources, sorted, minus tests and site-packages."""
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "test", "tests", "idle_test"}
    return sorted(p for p in root.rglob("*.py") if not skip.intersection(p.relative_to(root).parts))


def text_files(path: Path) -> list[Path]:
    return [path] if path.is_file() else sorted(path.rglob("*.txt"))


def is_prepared(path: Path) -> bool:
    return path.is_dir() and (path / META_NAME).exists()


def missing_meta_error(path: Path) -> DataError:
    return DataError(f"{bin_path(path, 'train')} has no {META_NAME} beside it, so its dtype and vocabulary are "
                     f"unknown: describe it once with `python -m scaling_laws.data.prepare --describe-bins {path} "
                     "--dtype uint16 --vocab-size N` (the dtype and vocabulary it was written with)")


def byte_sources(spec: str) -> tuple[str, list[Path]]:
    """(name, files) of a byte-level dataset: stdlib, a .txt file or a folder of them."""
    if spec == STDLIB:
        return f"stdlib(python {sysconfig.get_python_version()})", _stdlib_files_once()
    path = Path(spec)
    if not path.exists():
        raise DataError(f"dataset={spec!r} does not exist: use 'stdlib' (built in), a .txt file, a folder of "
                        f".txt files, or a folder made by `{PREPARE_HINT.format(out=spec)}`")
    if path.is_dir() and bin_path(path, "train").exists():
        raise missing_meta_error(path)
    if path.is_file() and path.suffix.lower() in NOT_TEXT_SUFFIXES:
        raise DataError(f"dataset={spec!r} is not plain text, and training on its raw bytes would learn its format: "
                        f"prepare it with `python -m scaling_laws.data.prepare {path} {path.with_suffix('')}-prepared "
                        "--tokenizer bpe --vocab-size 32768` and train on that folder")
    files = text_files(path)
    if not files:
        raise DataError(f"dataset={spec!r} holds no .txt files and no {META_NAME}: prepare it first with "
                        f"`python -m scaling_laws.data.prepare {path} {path}-prepared --tokenizer bpe "
                        "--vocab-size 32768` (it reads .txt, .jsonl, .parquet and saved Hugging Face datasets)")
    return str(path.resolve()), files


@lru_cache(maxsize=1)
def _stdlib_files_once() -> list[Path]:
    return stdlib_files()


@lru_cache(maxsize=1)
def _stdlib_bytes_once() -> int:
    return sum(p.stat().st_size for p in _stdlib_files_once())


def block_edges(total: int) -> np.ndarray:
    return np.linspace(0, total, SPLIT_BLOCKS + 1).astype(np.int64)


def validation_blocks(val_fraction: float, data_seed: int) -> set[int]:
    num_val = max(1, round(val_fraction * SPLIT_BLOCKS))
    return set(np.random.default_rng(data_seed).permutation(SPLIT_BLOCKS)[:num_val].tolist())


def byte_split_sizes(total: int, val_fraction: float, data_seed: int) -> tuple[int, int]:
    """(train, val) tokens of a byte corpus of ``total`` bytes, as split_blocks cuts it."""
    edges, held_out = block_edges(total), validation_blocks(val_fraction, data_seed)
    val = sum(int(edges[b + 1] - edges[b]) for b in held_out)
    return total - val, val


def summarize(spec: str, val_fraction: float, data_seed: int) -> DatasetSummary:
    """The dataset ``spec`` names, from file sizes and meta.json alone (no token is read)."""
    path = Path(spec)
    if spec != STDLIB and is_prepared(path):
        stat = (path / META_NAME).stat()
        return _prepared_summary(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    name, files = byte_sources(spec)
    total = _stdlib_bytes_once() if spec == STDLIB else sum(p.stat().st_size for p in files)
    train, val = byte_split_sizes(total, val_fraction, data_seed)
    return DatasetSummary(name=name, kind="bytes", vocab_size=BYTE_VOCAB_SIZE, train_tokens=train, val_tokens=val)


@lru_cache(maxsize=64)
def _prepared_summary(folder: str, mtime_ns: int, size: int) -> DatasetSummary:
    """Keyed by meta.json's mtime and size too, so a dataset prepared again is read again."""
    meta = read_meta(Path(folder))
    return DatasetSummary(name=folder, kind="prepared", vocab_size=meta.vocab_size,
                          train_tokens=meta.tokens["train"], val_tokens=meta.tokens["val"])


def epochs(tokens: int, train_tokens: int) -> float:
    """Passes over a training split of ``train_tokens`` that training on ``tokens`` makes."""
    return tokens / train_tokens if train_tokens else float("inf")


def run_epochs(cfg) -> float:
    """Passes a run makes over its training split: max_tokens_training / training tokens."""
    return epochs(cfg.max_tokens_training, summarize(cfg.dataset, cfg.val_fraction, cfg.data_seed).train_tokens)
