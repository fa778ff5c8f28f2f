"""The chunked readout + cross-entropy of benchmarks/readout_loss.py (measured against the shipped loss on a
GPU) computes the shipped loss: values and gradients, with and without smoothing and a bias, in float64."""
import importlib.util

import pytest
import torch

from conftest import ROOT
from scaling_laws.training.regularisation import smoothed_and_plain_loss

spec = importlib.util.spec_from_file_location("readout_loss", ROOT / "benchmarks" / "readout_loss.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("with_bias", [False, True])
def test_chunked_readout_loss_equals_logits_then_loss(smoothing, with_bias):
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(300, 16, dtype=torch.float64, generator=gen, requires_grad=True)
    weight = torch.randn(50, 16, dtype=torch.float64, generator=gen, requires_grad=True)
    bias = torch.randn(50, dtype=torch.float64, generator=gen, requires_grad=True) if with_bias else None
    targets = torch.randint(0, 50, (300,), generator=gen)
    leaves = [hidden, weight] + ([bias] if with_bias else [])

    objective, plain = bench.readout_cross_entropy(hidden, weight, bias, targets, smoothing, torch.float64, 64)
    chunked_grads = torch.autograd.grad(3 * objective, leaves)  # 3: the upstream gradient is applied
    logits = hidden @ weight.T + (bias if with_bias else 0)
    ref_objective, ref_plain = smoothed_and_plain_loss(logits, targets, smoothing)
    ref_grads = torch.autograd.grad(3 * ref_objective, leaves)

    torch.testing.assert_close(objective, ref_objective, rtol=1e-12, atol=0)
    torch.testing.assert_close(plain, ref_plain.detach(), rtol=1e-12, atol=0)
    for got, want in zip(chunked_grads, ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-14)
