"""The transformer's building-block options: what each one builds, its checks, and its counts.

(The analytic count against numel over every option combination is tests/test_experiment_utils.py.)
"""
import math

import pytest
import torch

from experiment_utils import gen_experim
from scaling_laws.config import ConfigError
from scaling_laws.models import build_model
from scaling_laws.models.transformer.counts import activation_bytes_per_sequence, flops_per_token
from scaling_laws.models.transformer.positions import Rotary, SinusoidalPositions
from scaling_laws.studies.derived import KAPLAN_TOKENS_COEFFICIENT, KAPLAN_TOKENS_EXPONENT
from scaling_laws.models import param_counts
from scaling_laws.validate import validate_experiment


def tiny(tiny_fields, **changes):
    fields = {**tiny_fields, **changes}
    return validate_experiment(gen_experim(fields.pop("hidden_dim"), folder_name="opts", **fields)[0])


@pytest.mark.parametrize("changes, fragment", [
    (dict(norm="batchnorm"), "norm='batchnorm' is not allowed; choose one of layernorm, layernorm_nobias, rmsnorm, none"),
    (dict(norm_placement="sandwich"), "norm_placement='sandwich' is not allowed; choose one of pre, post"),
    (dict(position_encoding="alibi"), "position_encoding='alibi' is not allowed; choose one of learned, rotary, "
                                      "sinusoidal"),
    (dict(init_scheme="orthogonal"), "init_scheme='orthogonal' is not allowed; choose one of scaled, normal, small"),
    (dict(token_rule="hoffmann"), "token_rule='hoffmann' is not allowed; choose one of chinchilla, kaplan"),
    (dict(attention_dropout=1.0), "attention_dropout=1.0 must be in [0, 1)"),
    (dict(residual_dropout=-0.1), "residual_dropout=-0.1 must be in [0, 1)"),
    (dict(label_smoothing=1.5), "label_smoothing=1.5 must be in [0, 1)"),
    (dict(bias="yes"), "bias='yes' has type str; expected bool"),
    (dict(hidden_dim=18, num_heads=6, position_encoding="rotary"), "head size, or position_encoding='learned'"),
    (dict(architecture="lstm", norm="rmsnorm", num_layers=2), "norm='rmsnorm' does not apply to architecture='lstm'"),
    (dict(scale_embeddings=True, use_mup=True, mup_base_width=16), "scale_embeddings=True with use_mup=True is refused"),
    (dict(architecture="lstm", scale_embeddings=True, num_layers=2), "scale_embeddings=True does not apply"),
])
def test_option_errors_name_field_value_and_allowed(tiny_fields, changes, fragment):
    with pytest.raises(ConfigError) as error:
        tiny(tiny_fields, **changes)
    assert fragment in str(error.value)


def test_post_norm_normalises_each_block_output_and_has_no_final_norm(tiny_fields):
    cfg = tiny(tiny_fields, norm_placement="post")
    model = build_model(cfg)
    assert isinstance(model.ln_final, torch.nn.Identity)
    hidden = []
    model.blocks[-1].register_forward_hook(lambda module, args, out: hidden.append(out))
    model(torch.randint(0, cfg.vocab_size, (2, cfg.seq_length)))
    # LayerNorm output (scale 1, bias 0 at init): every position has mean 0 and variance 1.
    assert hidden[0].mean(-1).abs().max() < 1e-5 and hidden[0].var(-1, unbiased=False).sub(1).abs().max() < 1e-3


def test_sinusoidal_table_is_vaswani_section_3_5():
    table = SinusoidalPositions(16, 8).table
    for position, i in ((3, 0), (5, 1), (15, 3)):
        angle = position / 10000 ** (2 * i / 8)
        assert table[position, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
        assert table[position, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)


def test_scaled_embeddings_enter_at_rms_one_and_the_tied_readout_reads_the_raw_weights(tiny_fields):
    """Vaswani et al. 2017 sec. 3.4: the embedding x sqrt(d), initialised N(0, 1/d), enters the first block at
    rms 1 like the sinusoids; without the scale it enters at 0.02 and the positions drown it."""
    torch.manual_seed(0)
    cfg = tiny(tiny_fields, hidden_dim=64, num_heads=2, scale_embeddings=True, position_encoding="sinusoidal")
    model = build_model(cfg)
    tokens = torch.randint(0, cfg.vocab_size, (4, cfg.seq_length))
    entered, left = [], []
    model.blocks[0].register_forward_pre_hook(lambda module, args: entered.append(args[0]))
    model.blocks[-1].register_forward_hook(lambda module, args, out: left.append(out))
    logits = model(tokens)
    token_part = entered[0] - model.position_embedding.table[:cfg.seq_length]
    assert token_part.pow(2).mean().sqrt().item() == pytest.approx(1.0, rel=0.15)
    assert torch.allclose(token_part, model.token_embedding(tokens) * math.sqrt(64), atol=1e-5)
    plain = build_model(tiny(tiny_fields, hidden_dim=64, num_heads=2, position_encoding="sinusoidal"))
    assert plain.token_embedding.weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert torch.allclose(logits, model.ln_final(left[0]) @ model.token_embedding.weight.T, atol=1e-5)


def test_rotary_scores_depend_only_on_the_offset_between_positions():
    rotary, head_dim = Rotary(32, 8), 8
    q, k = torch.randn(head_dim), torch.randn(head_dim)

    def score(m, n):
        queries = torch.zeros(1, 1, 32, head_dim)
        keys = torch.zeros(1, 1, 32, head_dim)
        queries[0, 0, m], keys[0, 0, n] = q, k
        return (rotary(queries)[0, 0, m] @ rotary(keys)[0, 0, n]).item()

    assert score(7, 3) == pytest.approx(score(20, 16), rel=1e-5)
    assert score(7, 3) != pytest.approx(score(7, 5), rel=1e-3)
    assert rotary(q.view(1, 1, 1, -1)).norm().item() == pytest.approx(q.norm().item(), rel=1e-6)  # a rotation


@pytest.mark.parametrize("scheme, expected_std", [
    ("scaled", lambda d, L, fan_in, residual: 0.02 / math.sqrt(2 * L) if residual else 0.02),
    ("normal", lambda d, L, fan_in, residual: 0.02),
    ("small", lambda d, L, fan_in, residual: math.sqrt(2 / (5 * d))),
    ("kaiming_normal", lambda d, L, fan_in, residual: math.sqrt(2 / fan_in)),
])
def test_init_schemes_draw_matrices_at_their_standard_deviation(tiny_fields, scheme, expected_std):
    cfg = tiny(tiny_fields, hidden_dim=64, num_layers=2, num_heads=2, init_scheme=scheme)
    model = build_model(cfg)
    for name, param in model.named_parameters():
        if param.dim() == 2 and "embedding" not in name:
            expected = expected_std(64, 2, param.shape[1], name.endswith(("proj.weight", "down.weight")))
            assert param.std().item() == pytest.approx(expected, rel=0.1), name


def test_xavier_uniform_bounds_and_zero_biases(tiny_fields):
    cfg = tiny(tiny_fields, hidden_dim=64, num_heads=2, init_scheme="xavier_uniform", bias=True)
    model = build_model(cfg)
    qkv = model.blocks[0].attn.qkv
    bound = math.sqrt(6 / (64 + 3 * 64))
    assert qkv.weight.abs().max().item() <= bound and qkv.weight.abs().max().item() > 0.9 * bound
    assert all(p.abs().max() == 0 for n, p in model.named_parameters() if n.endswith(".bias") and "ln" not in n)
    assert model.token_embedding.weight.std().item() == pytest.approx(0.02, rel=0.1)


def test_dropout_acts_in_training_only(tiny_fields):
    model = build_model(tiny(tiny_fields, embedding_dropout=0.2, attention_dropout=0.2, residual_dropout=0.2))
    tokens = torch.randint(0, 256, (2, 32))
    assert not torch.equal(model(tokens), model(tokens))
    model.eval()
    assert torch.equal(model(tokens), model(tokens))


def test_counts_follow_the_options(tiny_fields):
    base = tiny(tiny_fields, hidden_dim=32)
    seq, d = base.seq_length, 32
    learned, rotary = base, tiny(tiny_fields, hidden_dim=32, position_encoding="rotary")
    assert param_counts(learned).total - param_counts(rotary).total == seq * d
    assert flops_per_token(learned) == pytest.approx(flops_per_token(rotary))  # a lookup costs no matmul FLOPs
    assert activation_bytes_per_sequence(rotary) - activation_bytes_per_sequence(learned) == \
        base.num_layers * 4 * seq * d
    post = tiny(tiny_fields, hidden_dim=32, norm_placement="post", norm="rmsnorm")
    pre = tiny(tiny_fields, hidden_dim=32, norm="rmsnorm")
    assert param_counts(pre).non_embedding - param_counts(post).non_embedding == d  # the final RMSNorm


def test_kaplan_token_rule_derives_the_budget_from_non_embedding_parameters(tiny_fields):
    fields = {k: v for k, v in tiny_fields.items() if k != "max_tokens_training"}
    cfg = tiny(fields, token_rule="kaplan")
    expected = round(KAPLAN_TOKENS_COEFFICIENT * param_counts(cfg).non_embedding ** KAPLAN_TOKENS_EXPONENT)
    assert cfg.max_tokens_training == expected
    assert tiny(fields).max_tokens_training == round(20 * param_counts(cfg).total)


def test_building_blocks_are_in_run_identity_and_the_token_rule_only_through_the_budget():
    from scaling_laws.running.identity import identity_fields
    fields = identity_fields({"label": "a", "folder_name": "f"})
    assert {"norm", "norm_placement", "position_encoding", "bias", "init_scheme", "optimizer", "momentum",
            "label_smoothing", "attention_dropout", "scale_embeddings"} <= set(fields)
    assert "token_rule" not in fields  # an input of max_tokens_training, which is in the identity itself
    assert identity_fields({"label": "a", "folder_name": "f", "norm": "rmsnorm"})["norm"] == "rmsnorm"
