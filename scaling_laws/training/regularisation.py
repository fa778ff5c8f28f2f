"""Regularisation in the training loop: label smoothing of the objective, and the dropout masks' seed.

Dropout masks come from torch's global generator, seeded before every optimizer step from (model_seed,
step, rank): a resumed run draws the masks an uninterrupted one would, with no generator state in the
checkpoint, and every DDP rank draws its own.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


# Mixes the three numbers into one 63-bit seed (distinct for any step and rank below 2^20 workers).
STEP_STRIDE, RANK_STRIDE = 1 << 20, 1 << 40


def dropout_seed(model_seed: int, step: int, rank: int) -> int:
    return (model_seed * RANK_STRIDE + step * STEP_STRIDE + rank) % (1 << 63)


def seed_dropout(model_seed: int, step: int, rank: int) -> None:
    """Seed the generators dropout draws from (CPU and every CUDA device) for this step on this rank."""
    torch.manual_seed(dropout_seed(model_seed, step, rank))


def log_normaliser(logits: torch.Tensor) -> torch.Tensor:
    """logsumexp over the last dimension, torch's (it reads the logits twice); the online-softmax form reads
    them once but measured 0.9-1.5% slower per step on an H200 (benchmarks/step_variants.py online-lse)."""
    return torch.logsumexp(logits, dim=-1)


def token_cross_entropy(logits: torch.Tensor, targets: torch.Tensor,
                        normaliser: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of each of (tokens, vocab) logits: F.cross_entropy(reduction="none"). Compiled it is
    written logsumexp(logits) - logit, so that the backward keeps only the logits and one number per token,
    never fp32 log-probabilities (4 B per logit written and read again: 2.6% of a d512 step at vocabulary
    50,304). Eager it is torch's kernel, whose temporaries are smaller than the logsumexp form's.
    ``normaliser`` is logsumexp(logits) when the caller has it."""
    if not torch.compiler.is_compiling():
        return F.cross_entropy(logits, targets, reduction="none")
    if normaliser is None:
        normaliser = log_normaliser(logits)
    return normaliser + F.nll_loss(logits, targets, reduction="none")  # nll_loss of raw logits: -logit


def smoothed_and_plain_loss(logits: torch.Tensor, targets: torch.Tensor,
                            label_smoothing: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(objective to minimise, plain cross-entropy to log), both means over tokens.

    With smoothing e the objective is (1 - e) CE + e x mean over the vocabulary of -log p (Szegedy et al.
    2016; torch's label_smoothing), -log p = logsumexp(logits) - logit when compiled (token_cross_entropy
    says why). The plain cross-entropy is what the CSV ``loss`` holds, so curves with and without smoothing
    stay comparable and fit the same way.
    """
    if torch.compiler.is_compiling():
        normaliser = log_normaliser(logits)
        plain = token_cross_entropy(logits, targets, normaliser).mean()
        uniform = lambda: (normaliser - logits.mean(dim=-1)).mean()  # noqa: E731
    else:
        log_probs = F.log_softmax(logits, dim=-1)
        plain = F.nll_loss(log_probs, targets)
        uniform = lambda: -log_probs.mean(dim=-1).mean()  # noqa: E731
    if label_smoothing == 0:
        return plain, plain
    return (1 - label_smoothing) * plain + label_smoothing * uniform(), plain
