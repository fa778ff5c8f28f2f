"""The readout + cross-entropy alone, forward and backward, compiled (CUDA): the logits-then-loss form the
trainer ships against a chunked readout + loss that never holds all the logits, at throughput.py's shapes.

    python benchmarks/readout_loss.py [--shapes d128 d512 d1024 gpt2] [--chunks 128 256 512 1024 2048 4096]

The chunked form makes the logits a chunk of tokens at a time; each chunk's loss and its gradient with respect
to the logits (softmax minus the smoothed one-hot, over the token count) are computed at once, while the chunk
could still be in L2, and only that gradient is kept for the backward: the two matmuls of any readout's backward.
Same arithmetic as the readout followed by smoothed_and_plain_loss (bf16 matmuls accumulating in fp32, the
softmax in fp32). It measured slower at every chunk size (docs/gpu_speed.md), so the trainer does not use it;
tests/test_benchmarks_readout_loss.py checks it equals the shipped loss, values and gradients.

Prints ms per forward + backward (mean of 50 after warm-up) and the largest relative difference of the plain
loss and of each gradient from the logits-then-loss form.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.throughput import SEQ, SHAPES, VOCAB  # noqa: E402


def chunk_loss_and_grad(logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float,
                        scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(summed objective, summed plain cross-entropy, d objective-sum x scale / d logits in logits' dtype)."""
    logits32 = logits.to(torch.promote_types(logits.dtype, torch.float32))
    normaliser = torch.logsumexp(logits32, dim=-1, keepdim=True)
    plain = (normaliser - logits32.gather(1, targets[:, None])).sum()
    hit = (torch.arange(logits.shape[1], device=logits.device)[None, :] == targets[:, None]).to(logits32.dtype)
    probs = torch.exp(logits32 - normaliser)
    if label_smoothing == 0:
        return plain, plain, ((probs - hit) * scale).to(logits.dtype)
    uniform = (normaliser.squeeze(1) - logits32.mean(dim=-1)).sum()
    objective = (1 - label_smoothing) * plain + label_smoothing * uniform
    target = (1 - label_smoothing) * hit + label_smoothing / logits.shape[1]
    return objective, plain, ((probs - target) * scale).to(logits.dtype)


class ReadoutCrossEntropy(torch.autograd.Function):
    """(objective, plain cross-entropy), means over tokens, of logits hidden @ weight.T (+ bias)."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, label_smoothing, compute_dtype, tokens_per_chunk):
        h, w = hidden.to(compute_dtype), weight.to(compute_dtype)
        b = None if bias is None else bias.to(compute_dtype)
        scale = 1.0 / hidden.shape[0]
        objectives, plains, grads = [], [], []
        for h_chunk, t_chunk in zip(h.split(tokens_per_chunk), targets.split(tokens_per_chunk)):
            logits = h_chunk @ w.T if b is None else torch.addmm(b, h_chunk, w.T)
            objective, plain, grad = chunk_loss_and_grad(logits, t_chunk, label_smoothing, scale)
            objectives.append(objective)
            plains.append(plain)
            grads.append(grad)
        ctx.save_for_backward(torch.cat(grads), h, w)
        ctx.dtypes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)
        plain = torch.stack(plains).sum() * scale
        ctx.mark_non_differentiable(plain)
        return torch.stack(objectives).sum() * scale, plain

    @staticmethod
    def backward(ctx, grad_objective, _grad_plain):
        logit_grad, h, w = ctx.saved_tensors
        hidden_dtype, weight_dtype, bias_dtype = ctx.dtypes
        go = grad_objective.to(logit_grad.dtype)
        grad_hidden = ((logit_grad @ w) * go).to(hidden_dtype)
        grad_weight = ((logit_grad.T @ h) * go).to(weight_dtype)
        grad_bias = None
        if bias_dtype is not None:
            summed = logit_grad.sum(0, dtype=torch.promote_types(logit_grad.dtype, torch.float32))
            grad_bias = (summed * grad_objective).to(bias_dtype)
        return grad_hidden, grad_weight, grad_bias, None, None, None, None


def readout_cross_entropy(hidden, weight, bias, targets, label_smoothing, compute_dtype, tokens_per_chunk):
    """(objective, plain cross-entropy) of (tokens, d) ``hidden`` read out by (vocab, d) ``weight``."""
    return ReadoutCrossEntropy.apply(hidden, weight, bias, targets, label_smoothing, compute_dtype, tokens_per_chunk)


def logits_then_loss(hidden, weight, targets):
    """The shipped form: bf16 logits under autocast, then smoothed_and_plain_loss on their fp32 view."""
    from scaling_laws.training.regularisation import smoothed_and_plain_loss

    with torch.autocast("cuda", dtype=torch.bfloat16):
        logits = hidden @ weight.T
    return smoothed_and_plain_loss(logits.float(), targets, 0.0)


def chunked(tokens_per_chunk):
    def loss(hidden, weight, targets):
        return readout_cross_entropy(hidden, weight, None, targets, 0.0, torch.bfloat16, tokens_per_chunk)
    return loss


def timed(fn, hidden, weight, targets, mode, repeats=50):
    """(ms per forward + backward, (plain loss, hidden's gradient, weight's gradient))."""
    compiled = torch.compile(fn, mode=mode)

    def once():
        torch.compiler.cudagraph_mark_step_begin()
        hidden.grad = weight.grad = None
        objective, plain = compiled(hidden, weight, targets)
        objective.backward()
        return plain
    for _ in range(5):
        once()
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        plain = once()
    torch.cuda.synchronize()
    ms = (time.perf_counter() - started) / repeats * 1e3
    return ms, (plain.detach().clone(), hidden.grad.clone(), weight.grad.clone())


def relative(a, b):
    return float((a.float() - b.float()).abs().max() / b.float().abs().max())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--chunks", nargs="+", type=int, default=[128, 256, 512, 1024, 2048, 4096])
    parser.add_argument("--mode", default="reduce-overhead")
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = True
    for name in args.shapes:
        d, _layers, _heads, batch = SHAPES[name]
        gen = torch.Generator(device="cuda").manual_seed(0)
        hidden = torch.randn(batch * SEQ, d, device="cuda", generator=gen).requires_grad_()
        weight = (torch.randn(VOCAB, d, device="cuda", generator=gen) * 0.02).requires_grad_()
        targets = torch.randint(0, VOCAB, (batch * SEQ,), device="cuda", generator=gen)
        ref_ms, ref = timed(logits_then_loss, hidden, weight, targets, args.mode)
        print(f"{name:6} logits-then-loss      {ref_ms:7.3f} ms", flush=True)
        for chunk in args.chunks:
            ms, got = timed(chunked(chunk), hidden, weight, targets, args.mode)
            diffs = " ".join(f"{relative(g, r):.1e}" for g, r in zip(got, ref))
            print(f"{name:6} chunked {chunk:5} tokens {ms:7.3f} ms  {ref_ms / ms:5.3f}x  "
                  f"rel. diff loss/hidden/weight {diffs}", flush=True)
        torch._dynamo.reset()


if __name__ == "__main__":
    main()
