"""Small real corpora made in the test: Python standard-library sources written as text, JSONL and
Parquet files, and as a Hugging Face dataset saved to disk (the layout ``save_to_disk`` writes)."""
from __future__ import annotations

import json
import sysconfig
from pathlib import Path

import numpy as np

from scaling_laws.data.meta import SPLITS
from scaling_laws.data.prepare import is_validation_block


def stdlib_texts(count: int, start: int = 0) -> list[str]:
    """The sources of ``count`` standard-library modules: real text, the same on every machine with this Python."""
    root = Path(sysconfig.get_paths()["stdlib"])
    return [p.read_text(encoding="utf-8") for p in sorted(root.glob("*.py"))[start:start + count]]


def write_jsonl(path: Path, texts: list[str], field: str = "text") -> Path:
    path.write_text("".join(json.dumps({field: text, "n": i}) + "\n" for i, text in enumerate(texts)))
    return path


def write_parquet(path: Path, texts: list[str], field: str = "text") -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({field: texts, "n": list(range(len(texts)))}), path, row_group_size=2)
    return path


def write_saved_dataset(folder: Path, texts: list[str], field: str = "text") -> Path:
    """A Dataset as datasets' save_to_disk writes it: an Arrow stream file and state.json naming it."""
    import pyarrow as pa

    folder.mkdir(parents=True)
    table = pa.table({field: texts, "n": list(range(len(texts)))})
    with pa.OSFile(str(folder / "data-00000-of-00001.arrow"), "wb") as sink:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=3)
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}],
                                                   "_split": None}))
    (folder / "dataset_info.json").write_text(json.dumps({"features": {field: {"dtype": "string", "_type": "Value"}}}))
    return folder


def write_mixed_corpus(folder: Path) -> list[str]:
    """A folder of a .txt file, a JSONL file and a Parquet file; returns the documents in reading order."""
    folder.mkdir(parents=True, exist_ok=True)
    first, jsonl, parquet = stdlib_texts(1, 0), stdlib_texts(3, 1), stdlib_texts(3, 4)
    (folder / "a.txt").write_text(first[0])
    write_jsonl(folder / "b.jsonl", jsonl)
    write_parquet(folder / "c.parquet", parquet)
    return first + jsonl + parquet


def token_stream(folder: Path, meta) -> np.ndarray:
    """train.bin and val.bin put back together into the one stream prepare cut into blocks."""
    files = {split: np.fromfile(folder / f"{split}.bin", dtype=meta.dtype) for split in SPLITS}
    block, offsets, pieces = 0, {split: 0 for split in SPLITS}, []
    block_tokens, fraction = meta.split["block_tokens"], meta.split["val_fraction"]
    while True:
        split = "val" if is_validation_block(block, fraction) else "train"
        if offsets[split] >= len(files[split]):  # the stream ended in the block before
            return np.concatenate(pieces)
        pieces.append(files[split][offsets[split]:offsets[split] + block_tokens])
        offsets[split] += block_tokens
        block += 1
