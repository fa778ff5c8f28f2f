"""Tokenizers for prepare: raw bytes, a byte-level BPE trained on the corpus, or a pretrained tokenizer.json.

BPE and tokenizer.json files run on Hugging Face's ``tokenizers`` (Rust, batched across cores). The
trained BPE pre-tokenises bytes as GPT-2 does, so any text encodes without unknown tokens and
decodes back exactly. Documents are separated by an end-of-text token: the trained BPE's
``<|endoftext|>``, the first of EOS_CANDIDATES a pretrained tokenizer knows, none for bytes (the
vocabulary stays 256, as the built-in corpus's).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional, Protocol

import numpy as np

from scaling_laws.data import DataError
from scaling_laws.data.cache import file_sha256

EOS_TOKEN = "<|endoftext|>"
EOS_CANDIDATES = (EOS_TOKEN, "<|end_of_text|>", "</s>", "<eos>")
TOKENIZER_FILE = "tokenizer.json"


class Tokenizer(Protocol):
    vocab_size: int  # every id it produces is below this
    eos_id: Optional[int]  # appended after each document; None: documents are concatenated as they are

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]: ...

    def save(self, folder: Path) -> dict: ...  # writes what a reader needs into folder; returns meta.json's entry


class ByteTokenizer:
    """UTF-8 bytes: vocabulary 256, no end-of-text token."""

    vocab_size = 256
    eos_id = None

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        return [np.frombuffer(text.encode("utf-8"), dtype=np.uint8) for text in texts]

    def save(self, folder: Path) -> dict:
        return {"kind": "bytes", "eos_id": None}


class HFTokenizer:
    """A ``tokenizers.Tokenizer``: one trained here (kind "bpe") or read from a file ("pretrained")."""

    def __init__(self, tokenizer, kind: str, source: Optional[str] = None):
        self.tokenizer, self.kind, self.source = tokenizer, kind, source
        self.vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
        found = [(token, tokenizer.token_to_id(token)) for token in EOS_CANDIDATES]
        self.eos_token, self.eos_id = next(((t, i) for t, i in found if i is not None), (None, None))

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        # No special tokens: a BERT-style post-processor would wrap every piece in [CLS] ... [SEP].
        encodings = self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        return [np.asarray(encoding.ids, dtype=np.uint32) for encoding in encodings]

    def save(self, folder: Path) -> dict:
        path = Path(folder) / TOKENIZER_FILE
        self.tokenizer.save(str(path))
        return {"kind": self.kind, "file": TOKENIZER_FILE, "sha256": file_sha256(path), "source": self.source,
                "eos_token": self.eos_token, "eos_id": self.eos_id}


def train_bpe(texts: Iterable[str], vocab_size: int, show_progress: bool = True) -> HFTokenizer:
    """A byte-level BPE of ``vocab_size`` tokens (end-of-text included) trained on ``texts``."""
    from tokenizers import Tokenizer as RustTokenizer, decoders, models, pre_tokenizers, trainers

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if vocab_size < len(alphabet) + 1:
        raise DataError(f"--vocab-size {vocab_size} is too small for a byte-level BPE: it needs at least "
                        f"{len(alphabet) + 1} (256 bytes and the end-of-text token)")
    tokenizer = RustTokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS_TOKEN], initial_alphabet=alphabet,
                                  show_progress=show_progress)
    tokenizer.train_from_iterator(texts, trainer)
    return HFTokenizer(tokenizer, "bpe")


def load_tokenizer_json(path: Path) -> HFTokenizer:
    """A pretrained tokenizer from its tokenizer.json (as Hugging Face model repositories ship it)."""
    from tokenizers import Tokenizer as RustTokenizer

    try:
        tokenizer = RustTokenizer.from_file(str(path))
    except Exception as error:  # noqa: BLE001 - tokenizers raises a bare Exception for a bad file
        raise DataError(f"--tokenizer {path} is not a tokenizer.json the tokenizers library can read ({error})") \
            from None
    return HFTokenizer(tokenizer, "pretrained", source=str(Path(path).resolve()))
