import dataclasses
import hashlib

import numpy as np
import pytest

from scaling_laws.data.prepare import describe_bins
from scaling_laws.data.spec import stdlib_files
from scaling_laws.training.data import DataError, check_fits, load_token_data, train_batch, validation_batches


def test_stdlib_corpus_is_cached_fingerprinted_and_split_deterministically():
    first = load_token_data("stdlib", 0.1, data_seed=0)
    again = load_token_data("stdlib", 0.1, data_seed=0)
    other_split = load_token_data("stdlib", 0.1, data_seed=1)
    corpus = b"".join(p.read_bytes() for p in stdlib_files())
    assert first.sha256 == hashlib.sha256(corpus).hexdigest() == other_split.sha256
    assert len(first.train) + len(first.val) == len(corpus)
    assert 0.05 < len(first.val) / len(corpus) < 0.15
    assert np.array_equal(first.val, again.val)
    assert not np.array_equal(first.val[:1000], other_split.val[:1000])
    assert first.describe()["train_tokens"] == len(first.train)


def test_text_file_and_directory_sources(tmp_path):
    text = ("def f(x):\n    return x * 2\n" * 400).encode()
    (tmp_path / "one.txt").write_bytes(text)
    folder = tmp_path / "many"
    folder.mkdir()
    (folder / "b.txt").write_bytes(b"second " * 300)
    (folder / "a.txt").write_bytes(b"first " * 300)
    single = load_token_data(str(tmp_path / "one.txt"), 0.1, 0)
    assert single.sha256 == hashlib.sha256(text).hexdigest()
    many = load_token_data(str(folder), 0.1, 0)
    assert many.sha256 == hashlib.sha256(b"first " * 300 + b"second " * 300).hexdigest()  # sorted order


def test_train_val_bin_pair_needs_its_meta_json_then_is_used_as_given(tmp_path):
    train = np.arange(5000, dtype=np.uint16) % 1000
    val = np.arange(800, dtype=np.uint16) % 1000
    train.tofile(tmp_path / "train.bin")
    val.tofile(tmp_path / "val.bin")
    with pytest.raises(DataError, match=r"train.bin has no meta.json beside it.*--describe-bins"):
        load_token_data(str(tmp_path), 0.1, 0)
    describe_bins(tmp_path, "uint16", vocab_size=1000)
    tokens = load_token_data(str(tmp_path), 0.1, 0)
    assert np.array_equal(tokens.train, train) and np.array_equal(tokens.val, val)
    assert tokens.max_token_id == 999 and tokens.vocab_size == 1000
    check_fits(tokens, seq_length=64, vocab_size=1000)
    with pytest.raises(DataError, match="has a vocabulary of 1000 tokens, more than vocab_size=256; set vocab_size "
                                        "to at least 1000"):
        check_fits(tokens, seq_length=64, vocab_size=256)
    hand_edited = dataclasses.replace(tokens, vocab_size=256)  # a meta.json whose vocab_size is too small
    with pytest.raises(DataError, match="token id 999 >= vocab_size=256; set vocab_size to at least 1000"):
        check_fits(hand_edited, seq_length=64, vocab_size=256)


def test_missing_empty_and_too_short_data_fail_clearly(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_token_data(str(tmp_path / "nope.txt"), 0.1, 0)
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(DataError, match="is empty"):
        load_token_data(str(tmp_path / "empty.txt"), 0.1, 0)
    (tmp_path / "nodata").mkdir()
    with pytest.raises(DataError, match="holds no .txt files"):
        load_token_data(str(tmp_path / "nodata"), 0.1, 0)
    (tmp_path / "short.txt").write_bytes(b"x" * 300)
    short = load_token_data(str(tmp_path / "short.txt"), 0.1, 0)
    with pytest.raises(DataError, match="val split has 30 tokens, fewer than seq_length \\+ 2 = 66"):
        check_fits(short, seq_length=64, vocab_size=256)


def test_batches_are_pure_functions_of_seed_step_and_rank():
    tokens = load_token_data("stdlib", 0.1, 0)
    x1, y1 = train_batch(tokens, 4, 2, 16, batch_seed=0, step=3, micro_step=1, rank=0)
    x2, y2 = train_batch(tokens, 4, 2, 16, batch_seed=0, step=3, micro_step=1, rank=0)
    x3, _ = train_batch(tokens, 4, 2, 16, batch_seed=0, step=3, micro_step=1, rank=1, world_size=2)
    x4, _ = train_batch(tokens, 4, 2, 16, batch_seed=1, step=3, micro_step=1, rank=0)
    whole, _ = train_batch(tokens, 8, 1, 16, batch_seed=0, step=3, micro_step=0, rank=0)
    assert x1.shape == (4, 16) and x1.dtype.is_floating_point is False
    assert (x1 == x2).all() and (y1 == y2).all()
    assert (x1[:, 1:] == y1[:, :-1]).all()  # targets are inputs shifted by one
    assert not (x1 == x3).all() and not (x1 == x4).all()
    assert (whole[4:] == x1).all()  # a step's windows do not depend on the micro-batch split
    both_ranks, _ = train_batch(tokens, 16, 1, 16, batch_seed=0, step=3, micro_step=0)
    assert (both_ranks[12:] == x3).all()  # ... nor on the number of ranks


def test_validation_windows_are_fixed_and_cover_the_requested_count():
    tokens = load_token_data("stdlib", 0.1, 0)
    batches = validation_batches(tokens, num_sequences=10, batch_size=4, seq_length=16)
    assert [len(x) for x, _ in batches] == [4, 4, 2]
    again = validation_batches(tokens, num_sequences=10, batch_size=3, seq_length=16)
    assert (batches[0][0][:3] == again[0][0]).all()  # same windows whatever the micro-batch
