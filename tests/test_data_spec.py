"""scaling_laws/data/spec.py and its users at definition time: vocab_size from meta.json, epochs in
--list, the epoch warning, and GPU studies that name a prepared corpus."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from data_fixtures import stdlib_texts, write_jsonl
from experiment_utils import gen_experim, with_overrides
from scaling_laws.config import ConfigError
from scaling_laws.data.prepare import prepare
from scaling_laws.data.spec import run_epochs, summarize
from scaling_laws.studies.loader import epoch_warning
from scaling_laws.training.data import load_token_data
from scaling_laws.validate import validate_experiment


@pytest.fixture(scope="module")
def bpe_dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bpe")
    write_jsonl(folder / "docs.jsonl", stdlib_texts(12))
    prepare(folder / "docs.jsonl", folder / "data", tokenizer="bpe", vocab_size=700, block_tokens=2048,
            show_progress=False)
    return folder / "data"


def cli(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, str(ROOT / "experiments.py"), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


@pytest.mark.parametrize("kind", ["stdlib", "text", "prepared"])
def test_definition_time_sizes_equal_what_the_loader_opens(kind, bpe_dataset, tmp_path):
    (tmp_path / "c.txt").write_text("".join(stdlib_texts(3, 40)))
    spec = {"stdlib": "stdlib", "text": str(tmp_path / "c.txt"), "prepared": str(bpe_dataset)}[kind]
    summary, data = summarize(spec, 0.15, 3), load_token_data(spec, 0.15, 3)
    assert (summary.train_tokens, summary.val_tokens) == (len(data.train), len(data.val))
    assert summary.vocab_size == data.vocab_size == (700 if kind == "prepared" else 256)


def test_vocab_size_comes_from_meta_json_and_a_smaller_one_is_refused(bpe_dataset):
    experiment = gen_experim(16, dataset=str(bpe_dataset))[0]
    assert experiment["vocab_size"] == 700
    assert gen_experim(16, dataset=str(bpe_dataset), vocab_size=768)[0]["vocab_size"] == 768  # padding is fine
    with pytest.raises(ConfigError, match=rf"vocab_size=256 is smaller than the vocabulary of dataset="
                                          rf"'{bpe_dataset}' \(700, from {bpe_dataset}/meta.json\); set vocab_size "
                                          ">= 700, or leave it unset"):
        gen_experim(16, dataset=str(bpe_dataset), vocab_size=256)
    back = with_overrides(experiment, dataset="stdlib")  # vocab_size and what depends on it are derived again
    assert back["vocab_size"] == 256 and back["max_tokens_training"] < experiment["max_tokens_training"]
    with pytest.raises(ConfigError, match="vocab_size=256 is smaller"):
        validate_experiment({**experiment, "vocab_size": 256})


def test_a_folder_of_unprepared_files_or_a_missing_dataset_says_how_to_prepare_it(tmp_path):
    write_jsonl(tmp_path / "docs.jsonl", ["text"])
    with pytest.raises(ConfigError, match=rf"holds no .txt files and no meta.json: prepare it first with "
                                          rf"`python -m scaling_laws.data.prepare {tmp_path} {tmp_path}-prepared"):
        gen_experim(16, dataset=str(tmp_path))
    with pytest.raises(ConfigError, match="does not exist: use 'stdlib'.*scaling_laws.data.prepare SRC"):
        gen_experim(16, dataset=str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match=rf"docs.jsonl' is not plain text.*prepare {tmp_path / 'docs.jsonl'} "
                                          rf"{tmp_path / 'docs'}-prepared"):
        gen_experim(16, dataset=str(tmp_path / "docs.jsonl"))


def test_epochs_and_the_warning_at_definition_time(bpe_dataset):
    train_tokens = summarize(str(bpe_dataset), 0.1, 0).train_tokens
    once = gen_experim(16, dataset=str(bpe_dataset), max_tokens_training=train_tokens // 2)
    twice = gen_experim(24, dataset=str(bpe_dataset), max_tokens_training=3 * train_tokens)
    configs = [validate_experiment(e) for e in once + twice]
    assert [run_epochs(cfg) for cfg in configs] == pytest.approx([0.5, 3.0], abs=1e-4)
    assert epoch_warning("S", configs[:1]) is None
    assert epoch_warning("S", configs).startswith("1 of 2 runs of S pass over their training split more than "
                                                  "warn_above_epochs=1 times (epochs: d24 3): their loss measures "
                                                  "memorisation")
    assert epoch_warning("S", [validate_experiment(with_overrides(twice[0], warn_above_epochs=4.0))]) is None
    with pytest.raises(ConfigError, match="warn_above_epochs=0.0 must be > 0"):
        gen_experim(16, warn_above_epochs=0.0)


def test_list_shows_epochs_and_warns_on_stderr():
    table = cli("SMOKE", "--list", "max_tokens_training=20000000")
    lines = table.stdout.strip().splitlines()
    assert table.returncode == 0 and lines[0].split()[:5] == ["index", "label", "params", "tokens", "epochs"]
    train_tokens = summarize("stdlib", 0.1, 0).train_tokens
    assert lines[1].split()[4] == f"{20_000_000 / train_tokens:.3g}"
    assert table.stderr.startswith("warning: 6 of 6 runs of SMOKE pass over their training split more than "
                                   "warn_above_epochs=1 times")
    assert cli("SMOKE", "--list").stderr == ""


def test_gpu_studies_name_a_prepared_corpus_and_say_so_while_it_is_missing(bpe_dataset, tmp_path):
    missing = cli("TRANSFORMER_SCALING", "--list", env_extra={"SCALING_GPU_DATASET": str(tmp_path / "none")})
    assert missing.returncode == 2
    assert missing.stderr.strip().endswith(f"the GPU studies train on GPU_DATASET='{tmp_path / 'none'}', which does "
                                           f"not exist yet: prepare a corpus there with `python -m scaling_laws.data."
                                           f"prepare CORPUS {tmp_path / 'none'} --tokenizer bpe --vocab-size 32768`, "
                                           "or point $SCALING_GPU_DATASET at a prepared one")
    listing = cli("--list", env_extra={"SCALING_GPU_DATASET": str(tmp_path / "none")})
    assert listing.returncode == 0, listing.stderr  # waiting for data is not broken
    assert "TRANSFORMER_SCALING            -     needs data (below)" in listing.stdout
    assert ("needs data: ACTIVATION_EXPERIMENTS, ARCHITECTURE_EXPERIMENTS, HISTORICAL_SCALING, "
            "INIT_EXPERIMENTS, LR_SCHEDULE_EXPERIMENTS, LSTM_SCALING, LSTM_VS_TRANSFORMER, NORM_EXPERIMENTS, "
            "OPTIMIZER_SCALING, POSITION_EXPERIMENTS, TRANSFORMER_LR_SWEEP, "
            "TRANSFORMER_SCALING: the GPU studies train on "
            f"GPU_DATASET='{tmp_path / 'none'}'") in listing.stdout
    ready = cli("ACTIVATION_EXPERIMENTS", "--list", env_extra={"SCALING_GPU_DATASET": str(bpe_dataset)})
    assert ready.returncode == 0 and len(ready.stdout.strip().splitlines()) == 1 + 9
    assert "warning: 9 of 9 runs of ACTIVATION_EXPERIMENTS" in ready.stderr  # a small corpus: many epochs


def test_lstm_studies_cover_the_transformer_ladders_non_embedding_range(bpe_dataset, monkeypatch):
    monkeypatch.setattr("experiment_definitions.GPU_DATASET", str(bpe_dataset))
    from experiment_definitions import STUDIES
    from scaling_laws.models import param_counts
    from scaling_laws.validate import validate_experiment
    sizes = {name: [param_counts(validate_experiment(exp)).non_embedding for exp in STUDIES[name]()]
             for name in ("LSTM_SCALING", "TRANSFORMER_SCALING")}
    assert len(sizes["LSTM_SCALING"]) == len(sizes["TRANSFORMER_SCALING"]) == 7
    for lstm, transformer in zip(sizes["LSTM_SCALING"], sizes["TRANSFORMER_SCALING"]):
        assert abs(lstm - transformer) / transformer < 0.05
    pairs = STUDIES["LSTM_VS_TRANSFORMER"]()
    assert [exp["architecture"] for exp in pairs] == ["transformer", "lstm"] * 4
    assert {exp["folder_name"] for exp in pairs} == {"LSTM_VS_TRANSFORMER"}
    assert all(exp["world_size"] == 2 for exp in pairs if exp["architecture"] == "lstm")
