import pytest

from scaling_laws.config import ConfigError, FIELD_NAMES, parse_override
from scaling_laws.validate import validate_experiment
from experiment_utils import gen_experim


def base(**changes):
    experiment = gen_experim(32, label="x", folder_name="f")[0]
    experiment.update(changes)
    return experiment


def test_resolved_experiment_validates_and_round_trips():
    experiment = base()
    assert validate_experiment(experiment).to_dict() == experiment
    assert set(experiment) == set(FIELD_NAMES)


@pytest.mark.parametrize("changes, fragment", [
    (dict(num_heads=6, hidden_dim=64, ffn_dim=256), "num_heads=6 does not divide hidden_dim=64"),
    (dict(activation="tanh"), "activation='tanh' is not allowed; choose one of gelu, relu, silu, swiglu, geglu, glu"),
    (dict(batch_size=3), "!= target_effective_batch_size"),
    (dict(learning_rate=-1.0), "learning_rate=-1.0 must be > 0"),
    (dict(warmup_fraction=1.5), "warmup_fraction=1.5 must be in [0, 1)"),
    (dict(use_mup=True), "use_mup=True needs mup_base_width"),
    (dict(mup_base_width=64), "mup_base_width=64 is only read with use_mup=True"),
    (dict(completep_alpha=1.0), "completep_alpha=1.0 needs use_mup=True"),
    (dict(use_mup=True, mup_base_width=32, completep_alpha=1.0), "needs completep_base_depth"),
    (dict(use_mup=True, mup_base_width=32, completep_alpha=2.0), "completep_alpha=2.0 must be in [0, 1]"),
    (dict(use_mup=True, mup_base_width=32, completep_base_depth=2), "completep_base_depth=2 is only read with"),
    (dict(use_mup=True, mup_base_width=0), "mup_base_width=0 must be > 0"),
    (dict(use_mup=True, mup_base_width=16), "mup_base_width=16 does not hold whole heads of size 32"),
    (dict(mup_base_head_dim=16), "mup_base_head_dim=16 is only read with use_mup=True"),
    (dict(mup_output_multiplier=2.0), "mup_output_multiplier=2.0 is only read with use_mup=True"),
    (dict(mup_weight_decay="sqrt"), "mup_weight_decay='sqrt' is not allowed; choose one of width_scaled, coupled"),
    (dict(hidden_dim="64"), "hidden_dim='64' has type str; expected int"),
    (dict(tie_embeddings=1), "tie_embeddings=1 has type int; expected bool"),
    (dict(label="../escape"), "label='../escape' is not a safe name"),
    (dict(folder_name="a b;rm"), "folder_name='a b;rm' is not a safe name"),
    (dict(dataset="/no/such/file.txt"), "dataset='/no/such/file.txt' does not exist"),
    (dict(dtype="fp8"), "dtype='fp8' is not allowed"),
])
def test_invalid_values_name_field_value_and_allowed(changes, fragment):
    with pytest.raises(ConfigError) as error:
        validate_experiment(base(**changes))
    assert fragment in str(error.value)


def test_unknown_key_is_rejected_with_suggestion():
    with pytest.raises(ConfigError, match="unknown config field 'learning_rat'. Did you mean 'learning_rate'"):
        validate_experiment(base(learning_rat=1e-3))


def test_missing_label_is_rejected():
    experiment = base()
    del experiment["label"]
    with pytest.raises(ConfigError, match="missing required field.*label"):
        validate_experiment(experiment)


@pytest.mark.parametrize("text, expected", [
    ("learning_rate=3e-3", ("learning_rate", 3e-3)),
    ("max_tokens_training=2e5", ("max_tokens_training", 200000)),
    ("tie_embeddings=false", ("tie_embeddings", False)),
    ("activation=relu", ("activation", "relu")),
])
def test_parse_override_types_values(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize("text, fragment", [
    ("learning_rate", "is not key=value"),
    ("lr=3", "unknown config field 'lr'"),
    ("num_layers=2.5", "num_layers='2.5' is not a valid int"),
    ("tie_embeddings=maybe", "tie_embeddings='maybe' is not a valid bool"),
])
def test_parse_override_errors(text, fragment):
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        parse_override(text)
