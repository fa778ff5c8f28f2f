"""Dropout stays bit-reproducible across resume; label smoothing changes the objective, not the logged loss."""
import pytest
import torch
import torch.nn.functional as F

from conftest import rows_without_timing
from core import train
from experiment_utils import gen_experim
from scaling_laws.results_layout import read_metrics_rows, run_paths
from scaling_laws.training.regularisation import dropout_seed, smoothed_and_plain_loss, token_cross_entropy
from scaling_laws.validate import validate_experiment

DROPOUT = dict(embedding_dropout=0.1, attention_dropout=0.1, residual_dropout=0.1)


def tiny(tiny_fields, **changes):
    fields = {**tiny_fields, **changes}
    return validate_experiment(gen_experim(fields.pop("hidden_dim"), folder_name="reg", **fields)[0])


def losses(cfg):
    return [float(row["loss"]) for row in read_metrics_rows(run_paths(cfg).csv)]


def test_a_resumed_dropout_run_matches_an_uninterrupted_one(tiny_fields):
    whole = tiny(tiny_fields, label="whole", **DROPOUT)
    train(whole, run_paths(whole))
    resumed = tiny(tiny_fields, label="resumed", **DROPOUT)
    calls = {"n": 0}

    def stop_after_seven_steps():
        calls["n"] += 1
        return calls["n"] >= 7

    assert train(resumed, run_paths(resumed), stop_requested=stop_after_seven_steps)["status"] == "interrupted"
    assert train(resumed, run_paths(resumed))["status"] == "complete"
    assert rows_without_timing(run_paths(resumed).csv) == rows_without_timing(run_paths(whole).csv)
    plain = tiny(tiny_fields, label="plain")
    train(plain, run_paths(plain))
    assert losses(plain)[1:] != pytest.approx(losses(whole)[1:], abs=1e-4)  # dropout was active


def test_dropout_seeds_differ_by_seed_step_and_rank():
    seeds = {dropout_seed(m, s, r) for m in range(3) for s in range(100) for r in range(4)}
    assert len(seeds) == 3 * 100 * 4


def test_smoothed_objective_is_torchs_and_the_plain_loss_is_cross_entropy():
    logits, targets = torch.randn(12, 7), torch.randint(0, 7, (12,))
    objective, plain = smoothed_and_plain_loss(logits, targets, 0.1)
    assert objective.item() == pytest.approx(F.cross_entropy(logits, targets, label_smoothing=0.1).item(), rel=1e-6)
    assert plain.item() == pytest.approx(F.cross_entropy(logits, targets).item(), rel=1e-6)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_the_loss_and_its_gradient_equal_torchs_cross_entropy_eager_and_compiled(smoothing):
    """The compiled form, logsumexp - logit (traced by dynamo and AOT autograd; no C++ compiler needed), is
    F.cross_entropy, values and gradients: it changes what the compiled backward keeps, not the numbers."""
    logits, targets = 3 * torch.randn(64, 301, dtype=torch.float64), torch.randint(0, 301, (64,))
    torch.testing.assert_close(torch.compile(token_cross_entropy, backend="aot_eager")(logits, targets),
                               F.cross_entropy(logits, targets, reduction="none"))
    reference = logits.clone().requires_grad_()
    F.cross_entropy(reference, targets, label_smoothing=smoothing).backward()
    for loss_fn in (smoothed_and_plain_loss, torch.compile(smoothed_and_plain_loss, backend="aot_eager")):
        ours = logits.clone().requires_grad_()
        loss_fn(ours, targets, smoothing)[0].backward()
        torch.testing.assert_close(ours.grad, reference.grad)


def test_label_smoothing_logs_plain_cross_entropy_and_optimises_the_smoothed_objective(tiny_fields):
    smoothed, plain = tiny(tiny_fields, label="smoothed", label_smoothing=0.2), tiny(tiny_fields, label="plain")
    train(smoothed, run_paths(smoothed))
    train(plain, run_paths(plain))
    # Step 1's loss is measured before any update, on the same batch and weights: the same plain cross-entropy.
    assert losses(smoothed)[0] == pytest.approx(losses(plain)[0], rel=1e-6)
    assert losses(smoothed)[-1] != pytest.approx(losses(plain)[-1], rel=1e-4)  # a different objective was followed
    assert losses(smoothed)[-1] < losses(smoothed)[0] - 0.3
