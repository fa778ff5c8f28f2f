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
