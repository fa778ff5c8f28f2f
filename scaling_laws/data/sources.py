"""Reading a corpus for prepare, a piece of text at a time, in bounded memory.

Inputs:
- text files (.txt, .md): a file is a document, read in pieces of about PIECE_BYTES cut at line ends;
- JSONL (.jsonl, .ndjson): one JSON object per line, its ``text_field`` a document;
- Parquet (.parquet): one row a document, ``text_field`` its column, read BATCH_ROWS rows at a time;
- a Hugging Face dataset saved with ``save_to_disk``: its Arrow files, read a record batch at a
  time (a DatasetDict by ``split``); no ``datasets`` package needed;
- a folder of such files, searched recursively, read in sorted order (hidden files skipped).

A reader yields ``(text, input_bytes, ends_document)``: the text, how many bytes of the input it
used up (for the progress bar), and whether a document ends with it (where prepare puts the
end-of-text token).
"""
from __future__ import annotations

import codecs
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from scaling_laws.data import DataError

TEXT_SUFFIXES = (".txt", ".md")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)
PIECE_BYTES = 1 << 20  # a long text file is tokenised in pieces of about this size
BATCH_ROWS = 1024  # Parquet and Arrow rows read at a time
HF_STATE = "state.json"  # a saved Dataset: lists its Arrow files
HF_DICT = "dataset_dict.json"  # a saved DatasetDict: one Dataset folder per split
CONVERT_HINT = ("save it in a form prepare reads, e.g. with the datasets package: "
                "`datasets.load_dataset(NAME, split='train').save_to_disk(DIR)`, or `.to_json('corpus.jsonl')` "
                "or `.to_parquet('corpus.parquet')`")

Piece = tuple[str, int, bool]  # (text, input bytes used, ends a document)


@dataclass(frozen=True)
class Source:
    """One input file and how to read it."""

    path: Path
    kind: str  # text, jsonl, parquet or arrow

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def _kind(path: Path) -> Optional[str]:
    suffix = path.suffix.lower()
    for kind, suffixes in (("text", TEXT_SUFFIXES), ("jsonl", JSONL_SUFFIXES), ("parquet", PARQUET_SUFFIXES)):
        if suffix in suffixes:
            return kind
    return None


def _saved_dataset(folder: Path, split: str) -> list[Source]:
    """The Arrow files of a Dataset or DatasetDict written by ``save_to_disk``."""
    if (folder / HF_DICT).exists():
        splits = json.loads((folder / HF_DICT).read_text()).get("splits", [])
        if split not in splits:
            raise DataError(f"{folder} is a saved DatasetDict with splits {', '.join(splits)}, not {split!r}; "
                            "pass --split with one of them")
        folder = folder / split
    state = json.loads((folder / HF_STATE).read_text())
    files = [folder / entry["filename"] for entry in state.get("_data_files", [])]
    if not files:
        raise DataError(f"{folder / HF_STATE} lists no Arrow files; {CONVERT_HINT}")
    return [Source(path, "arrow") for path in files]


def find_sources(src: Path, split: str = "train", exclude: Optional[Path] = None) -> list[Source]:
    """The input files of ``src`` in reading order; ``exclude`` (the output folder) is skipped."""
    src = Path(src)
    if not src.exists():
        raise DataError(f"{src} does not exist: pass a text, JSONL or Parquet file, a folder of them, "
                        "or a folder written by datasets' save_to_disk")
    if src.is_dir() and ((src / HF_STATE).exists() or (src / HF_DICT).exists()):
        return _saved_dataset(src, split)
    candidates = [src] if src.is_file() else sorted(
        p for p in src.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(src).parts))
    if exclude is not None:
        candidates = [p for p in candidates if Path(exclude).resolve() not in p.resolve().parents]
    sources = [Source(p, _kind(p)) for p in candidates if _kind(p)]
    if sources:
        return sources
    if any(p.suffix == ".arrow" for p in candidates):
        raise DataError(f"{src} holds .arrow files but no {HF_STATE}: not a dataset saved with save_to_disk "
                        f"(a Hugging Face cache folder?); {CONVERT_HINT}")
    raise DataError(f"{src} holds no corpus files: expected {', '.join(TEXT_SUFFIXES + JSONL_SUFFIXES)} or "
                    f"{', '.join(PARQUET_SUFFIXES)} files, or a folder written by datasets' save_to_disk")


def read_pieces(source: Source, text_field: str = "text") -> Iterator[Piece]:
    """The texts of one input, in order."""
    readers = {"text": _text_pieces, "jsonl": _jsonl_pieces, "parquet": _parquet_pieces, "arrow": _arrow_pieces}
    return readers[source.kind](source.path, text_field)


def _text_pieces(path: Path, text_field: str) -> Iterator[Piece]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a piece may end inside a character
    carry = ""
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(PIECE_BYTES), b""):
            text = carry + decoder.decode(chunk)
            cut = text.rfind("\n") + 1 or len(text)  # a piece ends at a line end, unless the line is huge
            carry = text[cut:]
            yield text[:cut], len(chunk), False
    yield carry + decoder.decode(b"", final=True), 0, True


def _jsonl_pieces(path: Path, text_field: str) -> Iterator[Piece]:
    with open(path, "rb") as handle:
        for line_number, line in enumerate(handle, 1):
            if not line.strip():
                yield "", len(line), False
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                raise DataError(f"{path}:{line_number} is not valid JSON ({error}); JSONL holds one JSON object "
                                "per line") from None
            yield _field_text(record, text_field, f"{path}:{line_number}"), len(line), True


def _field_text(record, text_field: str, where: str) -> str:
    if not isinstance(record, dict) or text_field not in record:
        fields = ", ".join(record) if isinstance(record, dict) else type(record).__name__
        raise DataError(f"{where} has no field {text_field!r} (it has: {fields}); pass --text-field NAME")
    text = record[text_field]
    if not isinstance(text, str):
        raise DataError(f"{where}: field {text_field!r} is {type(text).__name__}, not text")
    return text


def _column_texts(batch, text_field: str, where: str) -> list[str]:
    if text_field not in batch.schema.names:
        raise DataError(f"{where} has no column {text_field!r} (it has: {', '.join(batch.schema.names)}); "
                        "pass --text-field NAME")
    texts = batch.column(text_field).to_pylist()
    bad = next((t for t in texts if t is not None and not isinstance(t, str)), None)
    if bad is not None:
        raise DataError(f"{where}: column {text_field!r} holds {type(bad).__name__}, not text")
    return [t for t in texts if t is not None]


def _batch_pieces(texts: list[str], input_bytes: int) -> Iterator[Piece]:
    yield "", input_bytes, False
    for text in texts:
        yield text, 0, True


def _parquet_pieces(path: Path, text_field: str) -> Iterator[Piece]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    if text_field not in parquet.schema_arrow.names:
        raise DataError(f"{path} has no column {text_field!r} (it has: {', '.join(parquet.schema_arrow.names)}); "
                        "pass --text-field NAME")
    size, rows, done = path.stat().st_size, max(1, parquet.metadata.num_rows), 0
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=[text_field]):
        share = size * batch.num_rows // rows
        done += share
        yield from _batch_pieces(_column_texts(batch, text_field, str(path)), share)
    yield "", max(0, size - done), False


def _arrow_pieces(path: Path, text_field: str) -> Iterator[Piece]:
    import pyarrow as pa

    size, done = path.stat().st_size, 0
    try:
        with pa.memory_map(str(path)) as mapped:
            for batch in pa.ipc.open_stream(mapped):
                share = min(batch.nbytes, size - done)
                done += share
                yield from _batch_pieces(_column_texts(batch, text_field, str(path)), share)
    except pa.ArrowInvalid as error:
        raise DataError(f"{path} is not an Arrow stream as save_to_disk writes ({error}); {CONVERT_HINT}") from None
    yield "", size - done, False
