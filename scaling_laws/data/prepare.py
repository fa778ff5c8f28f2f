"""The prepare command: a corpus in; train.bin, val.bin, meta.json (and tokenizer.json) out.

    python -m scaling_laws.data.prepare SRC OUT [--tokenizer bytes|bpe|FILE.json] [--vocab-size N]
        [--text-field text] [--split train] [--val-fraction 0.1] [--block-tokens 8192]
        [--bpe-sample-bytes 1G] [--overwrite] [--no-progress]
    python -m scaling_laws.data.prepare --describe-bins DIR --dtype uint16 --vocab-size N

SRC is a text, JSONL or Parquet file, a folder of them, or a Hugging Face dataset saved with
save_to_disk (sources.py). The corpus is streamed: read a piece at a time, tokenised in batches of
about BATCH_CHARS characters and appended to the token files, so memory stays bounded whatever its
size; progress bars show the work. Split: the token stream (each document followed by the
end-of-text token) is cut into blocks of --block-tokens; block b (0-based) goes to validation when
floor((b + 1) f + 1/2) > floor(b f + 1/2), f = --val-fraction, which holds out round(n f) of
every n blocks, evenly spread. Nothing is left half-written: the token files are written under
temporary names and renamed at the end, meta.json last. --describe-bins writes the meta.json of
train.bin / val.bin made elsewhere, after checking them against the dtype and vocabulary given.
Exit codes: 0 written, 2 bad input (one line saying which file or option, and why).
"""
from __future__ import annotations

import argparse
import hashlib
import math
import os
import re
import sys
from pathlib import Path
from typing import Iterable, Iterator, Optional

import numpy as np

from scaling_laws.data import DataError
from scaling_laws.data.cache import file_sha256, record_fingerprints
from scaling_laws.data.meta import (META_NAME, SPLITS, TOKEN_DTYPES, DatasetMeta, bin_path, token_dtype_for,
                                    write_meta)
from scaling_laws.data.sources import Source, find_sources, read_pieces
from scaling_laws.data.tokenizer import ByteTokenizer, Tokenizer, load_tokenizer_json, train_bpe

BATCH_CHARS = 1 << 20  # characters per encode_batch call: bounds memory (encodings cost ~50 B per char)
DEFAULT_BLOCK_TOKENS = 8192
DEFAULT_BPE_SAMPLE_BYTES = 1 << 30
MAX_LISTED_FILES = 10_000  # meta.json lists each input file up to this many; beyond, counts and one digest
SCAN_TOKENS = 1 << 24  # tokens per chunk when --describe-bins scans a file
SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def is_validation_block(block: int, val_fraction: float) -> bool:
    """Block ``block`` is held out: round(n x val_fraction) of the first n blocks are, evenly spread."""
    return math.floor((block + 1) * val_fraction + 0.5) > math.floor(block * val_fraction + 0.5)


def progress_bar(total: Optional[int], desc: str, show: bool, unit: str = "B"):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=not show, mininterval=1.0,
                file=sys.stderr)


class SplitWriter:
    """Appends one token stream to train.bin and val.bin block by block, hashing as it writes."""

    def __init__(self, folder: Path, dtype: str, block_tokens: int, val_fraction: float):
        self.folder, self.dtype = folder, np.dtype(dtype)
        self.block_tokens, self.val_fraction = block_tokens, val_fraction
        self.partial = {split: folder / f".{split}.bin.partial" for split in SPLITS}
        self.handles = {split: open(path, "wb") for split, path in self.partial.items()}
        self.digests = {split: hashlib.sha256() for split in SPLITS}
        self.tokens = {split: 0 for split in SPLITS}
        self.max_token_id, self.position = -1, 0

    def write(self, ids: np.ndarray) -> None:
        if len(ids):
            self.max_token_id = max(self.max_token_id, int(ids.max()))
        ids = ids.astype(self.dtype, copy=False)  # safe: ids are below the vocabulary, which fits the dtype
        while len(ids):
            block, offset = divmod(self.position, self.block_tokens)
            piece, ids = ids[:self.block_tokens - offset], ids[self.block_tokens - offset:]
            split = "val" if is_validation_block(block, self.val_fraction) else "train"
            data = piece.tobytes()
            self.handles[split].write(data)
            self.digests[split].update(data)
            self.tokens[split] += len(piece)
            self.position += len(piece)

    def commit(self) -> dict[str, str]:
        """Close, fsync and rename the files into place; returns their sha256s."""
        for split, handle in self.handles.items():
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            os.replace(self.partial[split], bin_path(self.folder, split))
        return {split: digest.hexdigest() for split, digest in self.digests.items()}

    def discard(self) -> None:
        for split, handle in self.handles.items():
            handle.close()
            self.partial[split].unlink(missing_ok=True)


def describe_inputs(src: Path, sources: list[Source], show_progress: bool) -> dict:
    """meta.json's record of the corpus: each file's size and sha256, and one digest over them."""
    files = []
    with progress_bar(sum(s.size for s in sources), "hashing inputs", show_progress) as bar:
        for source in sources:
            name = source.path.name if source.path == src else str(source.path.relative_to(src))
            files.append({"path": name, "kind": source.kind, "bytes": source.size, "sha256": file_sha256(source.path)})
            bar.update(source.size)
    digest = hashlib.sha256("".join(f"{f['path']}:{f['sha256']}\n" for f in files).encode()).hexdigest()
    return {"source": str(src.resolve()), "num_files": len(files), "bytes": sum(f["bytes"] for f in files),
            "sha256": digest, "files": files if len(files) <= MAX_LISTED_FILES else []}


def corpus_texts(sources: list[Source], text_field: str, limit_bytes: Optional[int] = None) -> Iterator[str]:
    """The corpus's texts in order (for BPE training), stopping after about ``limit_bytes`` of input."""
    used = 0
    for source in sources:
        for text, input_bytes, _ in read_pieces(source, text_field):
            if text:
                yield text
            used += input_bytes
            if limit_bytes is not None and used >= limit_bytes:
                return


def make_tokenizer(name: str, vocab_size: Optional[int], sources: list[Source], text_field: str,
                   bpe_sample_bytes: int, show_progress: bool) -> Tokenizer:
    """--tokenizer bytes, bpe (trained on the first --bpe-sample-bytes of the corpus) or a tokenizer.json."""
    if name == "bpe":
        if vocab_size is None:
            raise DataError("--tokenizer bpe needs --vocab-size N (e.g. 32768): the size of the vocabulary to train")
        if show_progress:
            print(f"training a byte-level BPE of {vocab_size:,} tokens on the first {bpe_sample_bytes / 2 ** 30:.3g} "
                  "GiB of the corpus", file=sys.stderr)
        return train_bpe(corpus_texts(sources, text_field, bpe_sample_bytes), vocab_size, show_progress)
    if vocab_size is not None:
        raise DataError(f"--vocab-size applies to --tokenizer bpe only; --tokenizer {name} has its own vocabulary")
    if name == "bytes":
        return ByteTokenizer()
    if Path(name).is_file():
        return load_tokenizer_json(Path(name))
    raise DataError(f"--tokenizer {name!r} is not bytes, bpe or an existing tokenizer.json file")


def tokenise(sources: list[Source], tokenizer: Tokenizer, writer: SplitWriter, text_field: str,
             show_progress: bool) -> None:
    """Encode every text in batches and append the tokens (end-of-text after each document) to ``writer``."""
    eos = None if tokenizer.eos_id is None else np.array([tokenizer.eos_id], dtype=np.uint32)
    batch: list[tuple[str, bool]] = []

    def flush() -> None:
        parts = []
        for ids, (_, ends_document) in zip(tokenizer.encode_batch([text for text, _ in batch]), batch):
            parts += [ids, eos] if ends_document and eos is not None else [ids]
        if parts:
            writer.write(np.concatenate([part.astype(np.uint32, copy=False) for part in parts]))
        batch.clear()

    with progress_bar(sum(s.size for s in sources), "tokenising", show_progress) as bar:
        chars = 0
        for source in sources:
            for text, input_bytes, ends_document in read_pieces(source, text_field):
                if text or ends_document:
                    batch.append((text, ends_document))
                    chars += len(text)
                bar.update(input_bytes)
                if chars >= BATCH_CHARS:
                    flush()
                    chars = 0
                    bar.set_postfix(tokens=f"{writer.position:,}", refresh=False)
        flush()
        bar.set_postfix(tokens=f"{writer.position:,}")


def _check_out(out: Path, overwrite: bool) -> None:
    held = [p for p in (out / META_NAME, bin_path(out, "train"), bin_path(out, "val")) if p.exists()]
    if held and not overwrite:
        raise DataError(f"{out} already holds a dataset ({held[0].name}); choose another folder or pass --overwrite")


def _check_split(writer: SplitWriter, block_tokens: int) -> None:
    total = writer.position
    for split in SPLITS:
        if writer.tokens[split] == 0:
            blocks = math.ceil(total / block_tokens)
            raise DataError(f"the {split} split is empty: the corpus has {total:,} tokens, {blocks} block(s) of "
                            f"--block-tokens {block_tokens}; use a smaller --block-tokens, another --val-fraction "
                            "or more data")


def prepare(src: Path, out: Path, tokenizer: str = "bytes", vocab_size: Optional[int] = None, text_field: str = "text",
            split: str = "train", val_fraction: float = 0.1, block_tokens: int = DEFAULT_BLOCK_TOKENS,
            bpe_sample_bytes: int = DEFAULT_BPE_SAMPLE_BYTES, overwrite: bool = False,
            show_progress: bool = True) -> DatasetMeta:
    """Tokenise the corpus at ``src`` into ``out``; returns what meta.json now says."""
    src, out = Path(src), Path(out)
    if not 0 < val_fraction < 1:
        raise DataError(f"--val-fraction {val_fraction} must be in (0, 1)")
    if block_tokens < 1:
        raise DataError(f"--block-tokens {block_tokens} must be >= 1")
    sources = find_sources(src, split, exclude=out)
    _check_out(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    inputs = {**describe_inputs(src, sources, show_progress), "text_field": text_field, "split": split}
    encoder = make_tokenizer(tokenizer, vocab_size, sources, text_field, bpe_sample_bytes, show_progress)
    writer = SplitWriter(out, token_dtype_for(encoder.vocab_size), block_tokens, val_fraction)
    try:
        tokenise(sources, encoder, writer, text_field, show_progress)
        _check_split(writer, block_tokens)
        # From here until the new meta.json, OUT is incomplete (refused by runs), never inconsistent.
        (out / META_NAME).unlink(missing_ok=True)
        tokenizer_entry = encoder.save(out)
        sha256 = writer.commit()
    except BaseException:
        writer.discard()
        raise
    rule = ("token stream cut into blocks of block_tokens; block b (0-based) is validation when "
            "floor((b + 1) * val_fraction + 1/2) > floor(b * val_fraction + 1/2)")
    meta = DatasetMeta(vocab_size=encoder.vocab_size, dtype=writer.dtype.name, tokens=dict(writer.tokens),
                       sha256=sha256, max_token_id=writer.max_token_id, tokenizer=tokenizer_entry, inputs=inputs,
                       split={"rule": rule, "val_fraction": val_fraction, "block_tokens": block_tokens})
    write_meta(out, meta)
    record_fingerprints(out, {bin_path(out, s).name: sha256[s] for s in SPLITS})
    return meta


def _scan(path: Path, dtype: str, vocab_size: int) -> tuple[int, int, str]:
    """(tokens, largest id, sha256) of a token file, read in chunks; refuses what cannot be ``dtype``."""
    itemsize, size = np.dtype(dtype).itemsize, path.stat().st_size
    if size % itemsize:
        raise DataError(f"{path} has {size:,} bytes: not a whole number of {dtype} tokens; check --dtype")
    tokens = np.memmap(path, dtype=dtype, mode="r") if size else np.zeros(0, dtype=dtype)
    digest, largest, odd_nonzero = hashlib.sha256(), -1, False
    for start in range(0, len(tokens), SCAN_TOKENS):  # SCAN_TOKENS is even: odd positions stay odd
        chunk = np.asarray(tokens[start:start + SCAN_TOKENS])
        digest.update(chunk.tobytes())
        largest = max(largest, int(chunk.max()))
        odd_nonzero = odd_nonzero or bool(chunk[1::2].any())
    if largest >= vocab_size:
        raise DataError(f"{path} holds token id {largest} >= --vocab-size {vocab_size}: give the vocabulary it was "
                        f"written with, or check --dtype (is it {'uint16' if dtype == 'uint32' else 'uint32'}?)")
    if dtype == "uint16" and len(tokens) >= 64 and not odd_nonzero:
        raise DataError(f"{path}: every second uint16 is 0, as when uint32 tokens are read as uint16; "
                        "pass --dtype uint32")
    return len(tokens), largest, digest.hexdigest()


def describe_bins(folder: Path, dtype: str, vocab_size: int, overwrite: bool = False) -> DatasetMeta:
    """Write meta.json for train.bin / val.bin made elsewhere, after checking them against dtype and vocabulary."""
    folder = Path(folder)
    if (folder / META_NAME).exists() and not overwrite:
        raise DataError(f"{folder / META_NAME} exists already; pass --overwrite to describe the files again")
    scans = {}
    for split in SPLITS:
        if not bin_path(folder, split).exists():
            raise DataError(f"{bin_path(folder, split)} does not exist; --describe-bins needs train.bin and val.bin")
        scans[split] = _scan(bin_path(folder, split), dtype, vocab_size)
    meta = DatasetMeta(vocab_size=vocab_size, dtype=dtype, tokens={s: scans[s][0] for s in SPLITS},
                       sha256={s: scans[s][2] for s in SPLITS}, max_token_id=max(scans[s][1] for s in SPLITS),
                       tokenizer={"kind": "external", "eos_id": None},
                       split={"rule": "given: train.bin and val.bin as they were written"})
    write_meta(folder, meta)
    record_fingerprints(folder, {bin_path(folder, s).name: meta.sha256[s] for s in SPLITS})
    return meta


def parse_size(text: str) -> int:
    """'512M', '1G', '1000000' -> bytes."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([KMGT]?)B?\s*", text.upper())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 512M or 1G")
    return int(float(match[1]) * SIZE_UNITS[match[2]])


def parse_args(argv: Iterable[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scaling_laws.data.prepare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", nargs="?", help="corpus: file, folder, or saved Hugging Face dataset")
    parser.add_argument("out", nargs="?", help="folder to write train.bin, val.bin, meta.json into")
    parser.add_argument("--tokenizer", default="bytes",
                        help="bytes (default), bpe (trained on SRC), or the path of a tokenizer.json")
    parser.add_argument("--vocab-size", type=int, help="with --tokenizer bpe: vocabulary to train; "
                                                       "with --describe-bins: the files' vocabulary")
    parser.add_argument("--text-field", default="text", help="JSONL field / Parquet or Arrow column holding the text")
    parser.add_argument("--split", default="train", help="split of a saved DatasetDict (default train)")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="share of blocks held out (default 0.1)")
    parser.add_argument("--block-tokens", type=int, default=DEFAULT_BLOCK_TOKENS, help="split block size in tokens")
    parser.add_argument("--bpe-sample-bytes", type=parse_size, default=DEFAULT_BPE_SAMPLE_BYTES,
                        help="train the BPE on the first this many bytes of the corpus (default 1G)")
    parser.add_argument("--overwrite", action="store_true", help="replace a dataset already in OUT")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--describe-bins", metavar="DIR", help="write meta.json for train.bin/val.bin made elsewhere")
    parser.add_argument("--dtype", choices=TOKEN_DTYPES, help="with --describe-bins: the files' token dtype")
    args = parser.parse_args(list(argv))
    if args.describe_bins is None and (args.src is None or args.out is None):
        parser.error("give SRC and OUT (or --describe-bins DIR --dtype D --vocab-size N)")
    if args.describe_bins is not None and (args.dtype is None or args.vocab_size is None):
        parser.error("--describe-bins needs --dtype and --vocab-size")
    return args


def _summary_line(out: Path, meta: DatasetMeta) -> str:
    return (f"wrote {out / META_NAME}: train {meta.tokens['train']:,} tokens, val {meta.tokens['val']:,} tokens, "
            f"{meta.dtype}, vocabulary {meta.vocab_size:,} ({meta.tokenizer['kind']}); train on it with dataset={out}")


def main(argv: Optional[Iterable[str]] = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.describe_bins is not None:
            out, meta = Path(args.describe_bins), describe_bins(Path(args.describe_bins), args.dtype,
                                                                args.vocab_size, args.overwrite)
        else:
            out = Path(args.out)
            meta = prepare(Path(args.src), out, args.tokenizer, args.vocab_size, args.text_field, args.split,
                           args.val_fraction, args.block_tokens, args.bpe_sample_bytes, args.overwrite,
                           show_progress=not args.no_progress)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(_summary_line(out, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
