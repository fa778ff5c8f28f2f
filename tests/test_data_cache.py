"""scaling_laws/data/cache.py and meta.py: datasets are opened once, concurrently without races, and
token files that no longer match their meta.json are refused, naming the file."""
import json
import multiprocessing
import os

import numpy as np
import pytest

from data_fixtures import stdlib_texts
from scaling_laws.data import DataError, cache
from scaling_laws.data.cache import file_fingerprints, fingerprint_cache_path
from scaling_laws.data.meta import read_meta
from scaling_laws.data.prepare import prepare
from scaling_laws.training.data import load_token_data

NAMES = ("train.bin", "val.bin")


@pytest.fixture
def prepared(tmp_path):
    (tmp_path / "corpus.txt").write_text("".join(stdlib_texts(6)))
    prepare(tmp_path / "corpus.txt", tmp_path / "data", block_tokens=4096, show_progress=False)
    return tmp_path / "data"


def test_a_prepared_dataset_opens_without_hashing_and_hashes_again_only_when_a_file_changes(prepared):
    assert file_fingerprints(prepared, NAMES).computed == ()  # prepare cached what it hashed while writing
    data = load_token_data(str(prepared), 0.1, 0)
    assert data.sha256 == read_meta(prepared).fingerprint
    os.utime(prepared / "val.bin", ns=(1, 1))  # same bytes, new mtime (a copy without -p, say)
    assert file_fingerprints(prepared, NAMES).computed == ("val.bin",)
    assert file_fingerprints(prepared, NAMES).computed == ()
    assert load_token_data(str(prepared), 0.1, 0).sha256 == data.sha256


def test_a_read_only_dataset_caches_its_fingerprints_in_the_cache_folder(prepared, monkeypatch, data_cache):
    monkeypatch.setattr(cache.os, "access", lambda path, mode: False)
    where = fingerprint_cache_path(prepared)
    assert where.parent == data_cache / "fingerprints"
    assert file_fingerprints(prepared, NAMES).computed == NAMES and where.exists()
    assert file_fingerprints(prepared, NAMES).computed == ()


def _open_at_once(folder, barrier, results):
    barrier.wait()
    results.put(file_fingerprints(folder, NAMES))


def test_array_tasks_opening_one_dataset_together_hash_it_once(tmp_path):
    rng = np.random.default_rng(0)
    for name in NAMES:  # large enough that hashing takes longer than the processes take to meet
        rng.integers(0, 2 ** 16, size=8_000_000, dtype=np.uint16).tofile(tmp_path / name)
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(4), context.Queue()
    workers = [context.Process(target=_open_at_once, args=(tmp_path, barrier, results)) for _ in range(4)]
    for worker in workers:
        worker.start()
    found = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0] * 4
    assert sorted(len(f.computed) for f in found) == [0, 0, 0, 2]  # one hashed, three read its result
    assert len({json.dumps(f.sha256, sort_keys=True) for f in found}) == 1


def _load_text(path, results):
    results.put(load_token_data(str(path), 0.1, 0).sha256)


def test_array_tasks_opening_one_text_corpus_together_build_one_cache(tmp_path, data_cache):
    (tmp_path / "corpus.txt").write_text("".join(stdlib_texts(8, 30)))
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [context.Process(target=_load_text, args=(tmp_path / "corpus.txt", results)) for _ in range(3)]
    for worker in workers:
        worker.start()
    digests = {results.get(timeout=60) for _ in workers}
    for worker in workers:
        worker.join(timeout=60)
    assert len(digests) == 1 and not list(data_cache.glob(".*.tmp"))


def _rewrite_meta(folder, **changes):
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, **changes}))


def test_token_files_that_do_not_match_meta_json_are_refused_naming_the_file(prepared):
    meta = read_meta(prepared)
    train = np.fromfile(prepared / "train.bin", dtype=np.uint16)
    train.astype(np.uint32).tofile(prepared / "train.bin")  # the same ids written as uint32
    with pytest.raises(DataError, match=rf"{prepared / 'train.bin'} has {4 * len(train):,} bytes, but meta.json says "
                                        rf"{len(train):,} uint16 tokens .*: it looks like uint32 tokens"):
        load_token_data(str(prepared), 0.1, 0)
    train[:-1].tofile(prepared / "train.bin")
    with pytest.raises(DataError, match="train.bin has .* bytes, but meta.json says .*: truncated or replaced"):
        load_token_data(str(prepared), 0.1, 0)
    (train[::-1]).tofile(prepared / "train.bin")  # same size, other tokens
    with pytest.raises(DataError, match=r"train.bin changed since its meta.json was written .* prepare it again"):
        load_token_data(str(prepared), 0.1, 0)
    train.tofile(prepared / "train.bin")
    assert load_token_data(str(prepared), 0.1, 0).sha256 == meta.fingerprint
    _rewrite_meta(prepared, dtype="int8")
    with pytest.raises(DataError, match="meta.json: dtype='int8' is not one of uint16, uint32"):
        load_token_data(str(prepared), 0.1, 0)
    (prepared / "meta.json").write_text("{")
    with pytest.raises(DataError, match="meta.json cannot be read as JSON"):
        load_token_data(str(prepared), 0.1, 0)
