"""scaling_laws/data/prepare.py: corpus in, train.bin / val.bin / meta.json out, on small real corpora."""
import hashlib
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from tokenizers import Tokenizer

from conftest import ROOT
from data_fixtures import (stdlib_texts, token_stream, write_jsonl, write_mixed_corpus, write_parquet,
                           write_saved_dataset)
from scaling_laws.data import DataError, prepare as prepare_module, sources
from scaling_laws.data.meta import read_meta
from scaling_laws.data.prepare import describe_bins, is_validation_block, prepare
from scaling_laws.data.tokenizer import ByteTokenizer, train_bpe
from scaling_laws.training.data import load_token_data


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "scaling_laws.data.prepare", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def utf8_stream(texts):
    return np.frombuffer("".join(texts).encode(), dtype=np.uint8)


def test_bytes_of_text_jsonl_and_parquet_are_kept_in_order_and_described(tmp_path):
    texts = write_mixed_corpus(tmp_path / "corpus")
    meta = prepare(tmp_path / "corpus", tmp_path / "out", block_tokens=4096, show_progress=False)
    assert np.array_equal(token_stream(tmp_path / "out", meta), utf8_stream(texts))
    assert meta.vocab_size == 256 and meta.tokenizer["kind"] == "bytes" and meta.dtype == "uint16"
    assert meta.max_token_id == int(utf8_stream(texts).max())
    for split in ("train", "val"):
        data = (tmp_path / "out" / f"{split}.bin").read_bytes()
        assert meta.sha256[split] == hashlib.sha256(data).hexdigest() and meta.tokens[split] == len(data) // 2
    files = meta.inputs["files"]
    assert [f["path"] for f in files] == ["a.txt", "b.jsonl", "c.parquet"]
    assert files[1]["sha256"] == hashlib.sha256((tmp_path / "corpus" / "b.jsonl").read_bytes()).hexdigest()
    assert read_meta(tmp_path / "out") == meta
    assert 0.07 < meta.tokens["val"] / sum(meta.tokens.values()) < 0.13


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.25, 0.3, 0.5])
def test_the_split_holds_out_round_n_f_of_every_n_blocks_evenly(fraction):
    held = [is_validation_block(b, fraction) for b in range(1000)]
    for n in range(1, 1000):
        assert sum(held[:n]) == int(n * fraction + 0.5)
    gaps = np.diff(np.flatnonzero(held))
    assert gaps.max() - gaps.min() <= 1  # evenly spread


def test_bpe_trained_on_the_corpus_round_trips_every_document(tmp_path):
    texts = write_mixed_corpus(tmp_path / "corpus")
    meta = prepare(tmp_path / "corpus", tmp_path / "out", tokenizer="bpe", vocab_size=600, block_tokens=1024,
                   show_progress=False)
    tokenizer = Tokenizer.from_file(str(tmp_path / "out" / "tokenizer.json"))
    assert meta.tokenizer["kind"] == "bpe" and meta.vocab_size == tokenizer.get_vocab_size() == 600
    assert meta.tokenizer["sha256"] == hashlib.sha256((tmp_path / "out" / "tokenizer.json").read_bytes()).hexdigest()
    stream = token_stream(tmp_path / "out", meta)
    eos = meta.tokenizer["eos_id"]
    documents = np.split(stream, np.flatnonzero(stream == eos) + 1)
    assert len(documents) == len(texts) + 1 and len(documents[-1]) == 0  # each document ends with end-of-text
    assert [tokenizer.decode(doc[:-1].tolist()) for doc in documents[:-1]] == texts
    assert len(stream) < len(utf8_stream(texts)) / 2  # even 600 tokens compress Python source past 2 bytes/token


def test_a_pretrained_tokenizer_json_is_used_as_given(tmp_path):
    texts = stdlib_texts(4, 10)
    own = train_bpe(iter(texts), vocab_size=400, show_progress=False)
    # A tokenizer as a model repository ships it, with a different end-of-text token.
    own.tokenizer.add_special_tokens(["</s>"])
    own.tokenizer.save(str(tmp_path / "tokenizer.json"))
    write_jsonl(tmp_path / "docs.jsonl", texts)
    meta = prepare(tmp_path / "docs.jsonl", tmp_path / "out", tokenizer=str(tmp_path / "tokenizer.json"),
                   block_tokens=512, show_progress=False)
    reference = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    eos = reference.token_to_id("<|endoftext|>")
    expected = np.concatenate([np.array(reference.encode(t, add_special_tokens=False).ids + [eos]) for t in texts])
    assert meta.tokenizer["kind"] == "pretrained" and meta.vocab_size == reference.get_vocab_size() == 401
    assert np.array_equal(token_stream(tmp_path / "out", meta), expected)


def test_a_saved_hugging_face_dataset_and_dataset_dict_are_read_without_the_datasets_package(tmp_path):
    texts = stdlib_texts(5, 20)
    write_saved_dataset(tmp_path / "ds", texts)
    meta = prepare(tmp_path / "ds", tmp_path / "out", block_tokens=2048, show_progress=False)
    assert np.array_equal(token_stream(tmp_path / "out", meta), utf8_stream(texts))
    assert meta.inputs["files"][0]["kind"] == "arrow"

    (tmp_path / "dict").mkdir()
    write_saved_dataset(tmp_path / "dict" / "train", texts[:2])
    write_saved_dataset(tmp_path / "dict" / "validation", texts[2:])
    (tmp_path / "dict" / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "validation"]}))
    picked = prepare(tmp_path / "dict", tmp_path / "out2", split="validation", block_tokens=1024, show_progress=False)
    assert np.array_equal(token_stream(tmp_path / "out2", picked), utf8_stream(texts[2:]))
    with pytest.raises(DataError, match="splits train, validation, not 'test'; pass --split"):
        prepare(tmp_path / "dict", tmp_path / "out3", split="test", show_progress=False)


def test_folders_that_are_not_a_readable_corpus_say_how_to_convert(tmp_path):
    (tmp_path / "hub_cache").mkdir()
    (tmp_path / "hub_cache" / "wikitext-train.arrow").write_bytes(b"not a stream")
    with pytest.raises(DataError, match="no state.json: not a dataset saved with save_to_disk.*save_to_disk"):
        prepare(tmp_path / "hub_cache", tmp_path / "out", show_progress=False)
    write_saved_dataset(tmp_path / "broken", ["x"])
    (tmp_path / "broken" / "data-00000-of-00001.arrow").write_bytes(b"garbage")
    with pytest.raises(DataError, match="is not an Arrow stream as save_to_disk writes.*to_parquet"):
        prepare(tmp_path / "broken", tmp_path / "out", show_progress=False)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(b"\x89PNG")
    with pytest.raises(DataError, match="holds no corpus files: expected .txt, .md, .jsonl"):
        prepare(tmp_path / "images", tmp_path / "out", show_progress=False)


def test_memory_is_bounded_the_tokenizer_sees_small_batches_and_pieces_lose_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "PIECE_BYTES", 1000)
    monkeypatch.setattr(prepare_module, "BATCH_CHARS", 5000)
    line = "naïve café – ünïcödé " * 10_000  # one 250 kB line: pieces must cut it, inside characters too
    (tmp_path / "big.txt").write_text(line)
    seen = []
    original = ByteTokenizer.encode_batch

    def recording(self, texts):
        seen.append(sum(len(t) for t in texts))
        return original(self, texts)

    monkeypatch.setattr(ByteTokenizer, "encode_batch", recording)
    meta = prepare(tmp_path / "big.txt", tmp_path / "out", block_tokens=4096, show_progress=False)
    assert np.array_equal(token_stream(tmp_path / "out", meta), utf8_stream([line]))
    assert len(seen) > 40 and max(seen) <= 5000 + 1000


def test_cli_writes_a_dataset_with_progress_and_says_how_to_use_it(tmp_path):
    write_mixed_corpus(tmp_path / "corpus")
    result = run_cli(tmp_path / "corpus", tmp_path / "out", "--tokenizer", "bpe", "--vocab-size", "500",
                     "--block-tokens", "1024")
    assert result.returncode == 0, result.stderr
    assert "tokenising" in result.stderr and "100%" in result.stderr  # the progress bar
    assert f"train on it with dataset={tmp_path / 'out'}" in result.stdout
    assert read_meta(tmp_path / "out").vocab_size == 500


def test_cli_errors_are_one_line_exit_2_and_leave_nothing_behind(tmp_path):
    write_jsonl(tmp_path / "docs.jsonl", ["short text"], field="body")
    missing_field = run_cli(tmp_path / "docs.jsonl", tmp_path / "out", "--no-progress")
    assert missing_field.returncode == 2
    assert missing_field.stderr.strip() == (f"error: {tmp_path / 'docs.jsonl'}:1 has no field 'text' (it has: body, n); "
                                            "pass --text-field NAME")
    assert not list((tmp_path / "out").iterdir())  # no partial token file, no meta.json
    no_vocab = run_cli(tmp_path / "docs.jsonl", tmp_path / "out", "--tokenizer", "bpe", "--text-field", "body")
    assert no_vocab.returncode == 2 and "--tokenizer bpe needs --vocab-size N" in no_vocab.stderr
    too_small = run_cli(tmp_path / "docs.jsonl", tmp_path / "out", "--text-field", "body", "--no-progress")
    assert too_small.returncode == 2 and "the val split is empty: the corpus has 10 tokens, 1 block(s)" \
        in too_small.stderr
    assert not list((tmp_path / "out").iterdir())
    assert run_cli(tmp_path / "nowhere", tmp_path / "out").stderr.startswith(f"error: {tmp_path / 'nowhere'} does not")
    assert run_cli("--describe-bins", tmp_path).returncode == 2  # argparse: needs --dtype and --vocab-size


def test_an_existing_dataset_is_kept_unless_overwrite(tmp_path):
    (tmp_path / "a.txt").write_text("abc " * 5000)
    first = prepare(tmp_path / "a.txt", tmp_path / "out", block_tokens=512, show_progress=False)
    with pytest.raises(DataError, match="already holds a dataset .*pass --overwrite"):
        prepare(tmp_path / "a.txt", tmp_path / "out", show_progress=False)
    assert read_meta(tmp_path / "out") == first
    (tmp_path / "b.jsonl").write_text('{"body": "no text field"}\n')
    with pytest.raises(DataError, match="has no field 'text'"):
        prepare(tmp_path / "b.jsonl", tmp_path / "out", overwrite=True, show_progress=False)
    assert read_meta(tmp_path / "out") == first  # a failed overwrite leaves the old dataset whole
    assert load_token_data(str(tmp_path / "out"), 0.1, 0).sha256 == first.fingerprint
    (tmp_path / "a.txt").write_text("xyz " * 6000)
    again = prepare(tmp_path / "a.txt", tmp_path / "out", block_tokens=512, overwrite=True, show_progress=False)
    assert sum(again.tokens.values()) == 24000 and read_meta(tmp_path / "out") == again


def test_describe_bins_checks_files_made_elsewhere(tmp_path):
    tokens = (np.arange(3000) * 7 % 5000).astype(np.uint32)
    tokens.tofile(tmp_path / "train.bin")
    tokens[:500].tofile(tmp_path / "val.bin")
    with pytest.raises(DataError, match="train.bin: every second uint16 is 0, as when uint32 tokens are read"):
        describe_bins(tmp_path, "uint16", vocab_size=50257)
    with pytest.raises(DataError, match="train.bin holds token id 4999 >= --vocab-size 256"):
        describe_bins(tmp_path, "uint32", vocab_size=256)
    (tmp_path / "val.bin").write_bytes(tokens[:500].tobytes() + b"\x01")
    with pytest.raises(DataError, match="val.bin has 2,001 bytes: not a whole number of uint32 tokens"):
        describe_bins(tmp_path, "uint32", vocab_size=5000)
    tokens[:500].tofile(tmp_path / "val.bin")
    meta = describe_bins(tmp_path, "uint32", vocab_size=5000)
    assert meta.tokens == {"train": 3000, "val": 500} and meta.max_token_id == 4999
    assert meta.sha256["train"] == hashlib.sha256(tokens.tobytes()).hexdigest()


def test_prepare_train_fit_end_to_end_on_a_small_real_corpus(tmp_path, results_dir, capsys):
    from core import train
    from experimental_analysis.fit_scaling_analysis import main as fit_main
    from experiment_utils import gen_experim
    from scaling_laws.results_layout import read_json, read_metrics_rows, run_paths
    from scaling_laws.running.runner import run_all
    from scaling_laws.validate import validate_experiment

    write_jsonl(tmp_path / "docs.jsonl", stdlib_texts(30))
    assert run_cli(tmp_path / "docs.jsonl", tmp_path / "data", "--tokenizer", "bpe", "--vocab-size", "512",
                   "--block-tokens", "1024", "--no-progress").returncode == 0
    meta = read_meta(tmp_path / "data")
    small = dict(num_layers=1, seq_length=32, target_effective_batch_size=8, max_tokens_training=8 * 32 * 60,
                 eval_interval=20, eval_sequences=16, learning_rate=3e-3, dataset=str(tmp_path / "data"))
    experiments = sum((gen_experim(d, folder_name="E2E", **small) for d in (8, 12, 16, 24)), [])
    experiments += gen_experim(8, label="repeats", folder_name="E2E_REPEAT", warn_above_epochs=0.001,
                               **{**small, "max_tokens_training": 8 * 32 * 5})
    configs = [validate_experiment(e) for e in experiments]
    assert {cfg.vocab_size for cfg in configs} == {512}
    assert run_all(train, configs) == 0
    record = read_json(run_paths(configs[0]).config_json)["dataset"]
    assert record["sha256"] == meta.fingerprint and record["train_tokens"] == meta.tokens["train"]
    assert record["vocab_size"] == 512 and record["tokenizer"] == "bpe"
    assert record["epochs"] == pytest.approx(8 * 32 * 60 / meta.tokens["train"])
    assert "more than warn_above_epochs=0.001: its loss measures memorisation" in run_paths(configs[-1]).log.read_text()
    assert "warn_above_epochs" not in run_paths(configs[0]).log.read_text()
    capsys.readouterr()
    assert fit_main([str(results_dir / "E2E"), "--n-bootstrap", "10"]) == 0
    fit = read_json(results_dir / "E2E" / "analysis" / "fit.json")
    assert len(fit["runs_used"]) == 4 and fit["fits"]["kaplan_N"]["n_points"] == 4
    val_losses = [float(read_metrics_rows(run_paths(cfg).csv)[-1]["val_loss"]) for cfg in configs[:4]]
    assert max(val_losses) < math.log(512) - 0.3  # every model learnt: below a uniform guess over 512 tokens
    assert val_losses == sorted(val_losses, reverse=True)  # and the loss falls with size
