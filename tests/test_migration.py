"""scaling_laws/migration.py: the original tool's names get this project's counterpart, said once."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from experiment_utils import gen_experim
from experiments import main as experiments_main
from scaling_laws.config import FIELD_NAMES, ConfigError, parse_override
from scaling_laws.migration import ORIGINAL_FIELDS, ORIGINAL_HELPERS
from scaling_laws.studies.loader import load_studies, load_study

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("key, answer", [
    ("seed", "here it is model_seed, batch_seed, data_seed"),
    ("adam_epsilon", "here it is eps"),
    ("train_split", "val_fraction = 1 - train_split"),
    ("gpu_type", "here it is gpu_memory_gb"),
    ("enable_completep", "here it is use_mup, mup_base_width, completep_alpha, completep_base_depth: CompleteP"),
    ("l_base", "here it is completep_base_depth"),
    ("use_amp", "here it is dtype"),
    ("fixed_val_tokens", "here it is eval_sequences"),
    ("token_limit", "here it is max_tokens_training"),
])
def test_an_original_key_gets_its_counterpart_and_no_list_of_every_field(key, answer):
    with pytest.raises(ConfigError) as raised:
        gen_experim(64, **{key: 1})
    message = str(raised.value)
    assert message.startswith(f"unknown config field '{key}': the original tool's name; ") and answer in message
    assert "Did you mean" not in message and "Known fields" not in message and "docs/migration.md" in message
    with pytest.raises(ConfigError, match=re.escape(answer)):
        parse_override(f"{key}=1")  # the command line's key=value says the same


def test_a_typo_gets_one_suggestion_and_only_a_hopeless_key_gets_the_field_list():
    with pytest.raises(ConfigError) as typo:
        gen_experim(64, learning_rat=1e-3)
    assert str(typo.value) == "unknown config field 'learning_rat'. Did you mean 'learning_rate'?"
    with pytest.raises(ConfigError, match="unknown config field 'qqqq'. Known fields: label, folder_name, "):
        gen_experim(64, qqqq=1)


def test_an_original_value_says_what_it_is_called_here():
    with pytest.raises(ConfigError) as raised:
        gen_experim(64, lr_schedule="cosine_warmup")
    message = str(raised.value)
    assert message.startswith("lr_schedule='cosine_warmup' is not allowed; choose one of cosine")
    assert "lr_schedule='cosine' is the original's cosine_warmup: linear warmup over warmup_fraction" in message


def test_a_gpu_type_as_gen_experims_second_argument_is_an_error_that_says_so():
    with pytest.raises(ConfigError) as raised:
        gen_experim(64, "H100")
    message = str(raised.value)
    assert message.startswith("gen_experim(64, 'H100'): label='H100' looks like a GPU type")
    assert "gpu_memory_gb=80" in message
    with pytest.raises(ConfigError, match="gpu_memory_gb=32"):
        gen_experim(64, "v100")
    assert gen_experim(64, "d64_h100_like")[0]["label"] == "d64_h100_like"  # only GPU names themselves


def test_importing_an_original_helper_says_what_replaces_it():
    with pytest.raises(ImportError, match=re.escape("get_base_config is the original tool's helper; here: "
                                                    "scaling_laws.config.defaults()")):
        from experiment_utils import get_base_config  # noqa: F401
    with pytest.raises(ImportError, match="cannot import name 'no_such_helper'"):
        from experiment_utils import no_such_helper  # noqa: F401


def test_no_original_key_is_a_field_of_ours_and_every_one_is_in_the_migration_doc():
    assert not set(ORIGINAL_FIELDS) & set(FIELD_NAMES), "a field of ours is never unknown: drop its migration entry"
    doc = (ROOT / "docs" / "migration.md").read_text()
    missing = [key for key in [*ORIGINAL_FIELDS, *ORIGINAL_HELPERS] if not re.search(rf"`{key}[`(]", doc)]
    assert not missing, f"docs/migration.md does not mention {missing}"


BROKEN_STUDY = '''from experiment_definitions import study
from experiment_utils import gen_experim


@study("GOOD")
def good():
    return gen_experim(8, folder_name="GOOD", max_tokens_training=2048)


@study("BAD")
def bad():
    runs = gen_experim(8, folder_name="BAD", max_tokens_training=2048)
    return runs + gen_experim(16, folder_name="BAD", seed=123)
'''


def test_a_failing_study_names_itself_and_its_line_and_list_still_shows_the_others(tmp_path, capsys):
    path = tmp_path / "defs.py"
    path.write_text(BROKEN_STUDY)
    with pytest.raises(ConfigError) as raised:
        load_study("BAD", definitions=str(path))
    assert str(raised.value).startswith(f"study 'BAD' ({path}) failed at line 13: unknown config field 'seed': "
                                        "the original tool's name; here it is model_seed")
    assert load_study("GOOD", definitions=str(path))[0].label == "d8"

    assert experiments_main(["--list", "--definitions", str(path)]) == 2
    out, err = capsys.readouterr()
    assert re.search(r"^GOOD\s+1\s", out, re.M) and re.search(r"^BAD\s+-\s+broken \(below\)", out, re.M)
    assert re.search(r"^SMOKE\s+6\s", out, re.M)  # the built-in studies too
    assert f"error: study 'BAD' ({path}) failed at line 13" in err


def test_a_definitions_file_that_fails_to_load_says_its_line(tmp_path):
    path = tmp_path / "old.py"
    path.write_text("from experiment_definitions import study\nfrom experiment_utils import get_base_config\n")
    with pytest.raises(ConfigError, match=re.escape(f"--definitions {path} failed at line 2: ImportError: "
                                                    "get_base_config is the original tool's helper")):
        load_studies(str(path))
    path.write_text("x = 1\nif x\n")
    with pytest.raises(ConfigError, match=re.escape(f"--definitions {path} failed at line 2: SyntaxError")):
        load_studies(str(path))


def test_an_original_study_name_points_at_ours():
    with pytest.raises(ConfigError, match="unknown study 'TRANSFORMER_SCALING_EXPERIMENTS'; the original's "
                                          "TRANSFORMER_SCALING_EXPERIMENTS is TRANSFORMER_SCALING here; known"):
        load_study("TRANSFORMER_SCALING_EXPERIMENTS")
    with pytest.raises(ConfigError, match="unknown study 'SMOKES'; did you mean 'SMOKE'"):
        load_study("SMOKES")
