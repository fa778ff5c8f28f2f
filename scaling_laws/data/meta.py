"""meta.json: what a prepared dataset's train.bin and val.bin hold, and the check that they still do.

The prepare command writes it last, after both token files are in place, so a folder with a
meta.json is a complete dataset. Token files made elsewhere (nanoGPT's prepare.py, say) get one from
``python -m scaling_laws.data.prepare --describe-bins DIR --dtype uint16 --vocab-size N``.
Opening a dataset compares each file's size with the token count and dtype recorded here, so a
uint32 file read as uint16, a truncated copy or a file of odd size is refused, naming the file.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scaling_laws.data import DataError
from scaling_laws.results_layout import atomic_write_json

META_NAME = "meta.json"
FORMAT_VERSION = 1
SPLITS = ("train", "val")
TOKEN_DTYPES = ("uint16", "uint32")


def token_dtype_for(vocab_size: int) -> str:
    """The smallest token dtype that holds every id below ``vocab_size``."""
    return "uint16" if vocab_size <= 2 ** 16 else "uint32"


def bin_path(folder: Path, split: str) -> Path:
    return Path(folder) / f"{split}.bin"


@dataclass(frozen=True)
class DatasetMeta:
    """The contents of meta.json."""

    vocab_size: int  # the tokenizer's vocabulary: every token id is below it
    dtype: str  # numpy dtype of the token files: uint16 or uint32
    tokens: dict[str, int]  # split -> tokens in <split>.bin
    sha256: dict[str, str]  # split -> sha256 of <split>.bin's bytes
    max_token_id: int  # the largest token id in either file
    tokenizer: dict[str, Any]  # kind (bytes, bpe, pretrained, external), file, sha256, eos_id
    inputs: dict[str, Any] = field(default_factory=dict)  # the corpus: source, files with bytes and sha256
    split: dict[str, Any] = field(default_factory=dict)  # the train/validation rule and its parameters
    format_version: int = FORMAT_VERSION

    @property
    def fingerprint(self) -> str:
        """One sha256 for the dataset: of the two files' sha256s."""
        text = "".join(f"{split}:{self.sha256[split]}\n" for split in SPLITS)
        return hashlib.sha256(text.encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def write_meta(folder: Path, meta: DatasetMeta) -> Path:
    path = Path(folder) / META_NAME
    atomic_write_json(path, meta.to_json())
    path.chmod(0o644)  # a dataset is shared: readable by every user who may train on it
    return path


def read_meta(folder: Path) -> DatasetMeta:
    """meta.json of ``folder``, checked for the fields and values a loader relies on."""
    path = Path(folder) / META_NAME
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise DataError(f"{path} cannot be read as JSON ({error}); prepare the dataset again") from None
    known = set(DatasetMeta.__dataclass_fields__)
    missing = [name for name in ("vocab_size", "dtype", "tokens", "sha256", "max_token_id", "tokenizer")
               if not isinstance(raw, dict) or name not in raw]
    if missing:
        raise DataError(f"{path} lacks {', '.join(missing)}: not a meta.json written by "
                        "scaling_laws.data.prepare; prepare the dataset again")
    meta = DatasetMeta(**{k: v for k, v in raw.items() if k in known})
    if meta.dtype not in TOKEN_DTYPES:
        raise DataError(f"{path}: dtype={meta.dtype!r} is not one of {', '.join(TOKEN_DTYPES)}")
    if sorted(meta.tokens) != sorted(SPLITS) or sorted(meta.sha256) != sorted(SPLITS):
        raise DataError(f"{path}: tokens and sha256 must name the splits {', '.join(SPLITS)}")
    return meta


def check_token_files(folder: Path, meta: DatasetMeta) -> None:
    """Each <split>.bin must hold exactly the tokens meta.json says, in its dtype."""
    itemsize = np.dtype(meta.dtype).itemsize
    for split in SPLITS:
        path = bin_path(folder, split)
        if not path.exists():
            raise DataError(f"{path} is missing, though {Path(folder) / META_NAME} describes it")
        size, expected = path.stat().st_size, meta.tokens[split] * itemsize
        if size != expected:
            raise DataError(f"{path} has {size:,} bytes, but {META_NAME} says {meta.tokens[split]:,} {meta.dtype} "
                            f"tokens ({expected:,} bytes){_size_hint(size, expected, meta.dtype)}; "
                            "the file is not what meta.json describes: prepare the dataset again")


def _size_hint(size: int, expected: int, dtype: str) -> str:
    other = "uint32" if dtype == "uint16" else "uint16"
    ratio = 2 if dtype == "uint16" else 0.5
    if expected and size == expected * ratio:
        return f": it looks like {other} tokens"
    if size % np.dtype(dtype).itemsize:
        return f": not a whole number of {dtype} tokens"
    return ": truncated or replaced"
