"""scaling_laws/studies/derived.py: the one table of derived fields."""
import dataclasses

import pytest

from experiment_utils import gen_experim
from scaling_laws.config import ConfigError, ExperimentConfig
from scaling_laws.studies.derived import DERIVED_NAMES, stale_fields
from scaling_laws.validate import validate_experiment


def test_derived_fields_have_no_placeholder_defaults():
    no_default = {f.name for f in dataclasses.fields(ExperimentConfig) if f.default is dataclasses.MISSING}
    assert DERIVED_NAMES <= no_default


def test_a_dict_without_a_derived_field_is_refused_with_the_way_out():
    experiment = gen_experim(16)[0]
    del experiment["max_tokens_training"]
    with pytest.raises(ConfigError, match="missing required field.*max_tokens_training.*gen_experim"):
        validate_experiment(experiment)


@pytest.mark.parametrize("changed, stale", [
    ({"hidden_dim"}, {"num_layers", "num_heads", "ffn_dim", "max_tokens_training", "batch_size",
                      "gradient_accumulation_steps"}),
    ({"activation"}, {"ffn_dim", "max_tokens_training", "batch_size", "gradient_accumulation_steps"}),
    ({"num_layers"}, {"max_tokens_training", "batch_size", "gradient_accumulation_steps"}),
    ({"gpu_memory_gb"}, {"batch_size", "gradient_accumulation_steps"}),
    ({"learning_rate"}, set()),
    ({"hidden_dim", "num_layers"}, {"num_heads", "ffn_dim", "max_tokens_training", "batch_size",
                                    "gradient_accumulation_steps"}),
])
def test_stale_fields_follow_dependencies_through_derived_fields(changed, stale):
    assert stale_fields(changed) == stale


def test_a_field_derived_again_to_its_old_value_moves_nothing_further(tmp_path):
    from experiment_utils import create_isoflop_experiments, with_overrides

    (tmp_path / "corpus.txt").write_text("some text " * 5000)
    isoflop = create_isoflop_experiments(gen_experim(16), [1e11])[0]
    moved = with_overrides(isoflop, dataset=str(tmp_path / "corpus.txt"))  # vocab_size derived again: still 256
    assert moved["vocab_size"] == 256 and moved["max_tokens_training"] == isoflop["max_tokens_training"]
    wider = with_overrides(isoflop, vocab_size=512)  # a value that does move: the budget follows the new N
    assert wider["max_tokens_training"] != isoflop["max_tokens_training"]
    same = with_overrides(isoflop, hidden_dim=16)
    assert same == isoflop
