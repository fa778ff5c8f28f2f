"""Which (N, D) design would identify Approach 3 at DEMO's scale, and what it would cost on this CPU.

Takes the DEMO's own runs (results/DEMO after `bash scripts/demo.sh`): its fitted law as the truth and its
rms log residual as the noise. For each candidate design (a grid of N and D), simulates one loss per run from
that law with that noise, fits Approach 3 with bootstrap intervals, and prints which parameters the fit flags
(diagnostics.parameter_flag: E not clearly above 0, intervals wider than a factor 10, exponents beyond +-50%)
beside the design's compute, scaled to minutes on this machine by the DEMO's own FLOPs per second.

    python benchmarks/demo_identifiability.py [results/DEMO] [--bootstrap 200] [--seeds 3]
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from experimental_analysis.chinchilla import fit_chinchilla  # noqa: E402
from experimental_analysis.diagnostics import parameter_flag  # noqa: E402
from experimental_analysis.load_results import load_curves, load_runs  # noqa: E402


def designs(n_demo: np.ndarray, d_demo: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Candidate designs as (N, D) per run: the DEMO's own, then full grids over wider ranges."""
    def grid(n_lo, n_hi, k, d_lo, d_hi, m):
        N, D = np.meshgrid(np.geomspace(n_lo, n_hi, k), np.geomspace(d_lo, d_hi, m))
        return N.ravel(), D.ravel()
    n_lo, n_hi, d_lo, d_hi = n_demo.min(), n_demo.max(), d_demo.min(), d_demo.max()
    return {"DEMO as shipped": (n_demo, d_demo),
            "grid 5x4 over DEMO's N and D ranges": grid(n_lo, n_hi, 5, d_lo, d_hi, 4),
            "grid 6x5, N and D ranges 4x wider": grid(n_lo, 4 * n_hi, 6, d_lo, 4 * d_hi, 5),
            "grid 6x5, N and D ranges 16x wider": grid(n_lo, 16 * n_hi, 6, d_lo, 16 * d_hi, 5),
            "grid 7x6, N and D ranges 64x wider": grid(n_lo, 64 * n_hi, 7, d_lo, 64 * d_hi, 6)}


def flags_of(fit, smallest_loss: float) -> list[str]:
    """Names of the flagged parameters of one fit (E, A, B, alpha, beta)."""
    intervals = fit.intervals
    estimates = dict(E=fit.E, A=fit.A, B=fit.B, alpha=fit.alpha, beta=fit.beta)
    return [name for name, value in estimates.items() if parameter_flag(name, value, intervals[name], smallest_loss)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("results", nargs="?", default="results/DEMO")
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3, help="noise draws per design")
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = load_runs(args.results)
    runs = runs[runs["status"] == "complete"]
    N, D, L = (runs[c].to_numpy(float) for c in ("total_params", "tokens", "final_val_loss"))
    truth = fit_chinchilla(N, D, L, n_bootstrap=0)
    law = lambda n, d: truth.E + truth.A / n ** truth.alpha + truth.B / d ** truth.beta  # noqa: E731
    noise = float(np.sqrt(np.mean(np.log(L / law(N, D)) ** 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wall_s = float(load_curves(args.results).groupby("run")["elapsed_s"].max().sum())  # training time only
    flop_rate = float((6 * N * D).sum()) / wall_s
    print(f"truth (DEMO's own fit, {len(runs)} runs): E={truth.E:.3g} A={truth.A:.3g} B={truth.B:.3g} "
          f"alpha={truth.alpha:.3g} beta={truth.beta:.3g}; noise rms log residual {noise:.4f}; "
          f"DEMO trained {(6 * N * D).sum():.3g} FLOPs in {wall_s:.0f} s of run time ({flop_rate:.3g} FLOP/s)")
    print(f"{'design':40s} {'runs':>4s} {'N range':>17s} {'D range':>17s} {'compute':>9s} {'minutes':>8s}  "
          f"flagged parameters, per noise draw")
    rng = np.random.default_rng(0)
    for name, (n, d) in designs(N, D).items():
        flagged = []
        for _ in range(args.seeds):
            loss = law(n, d) * np.exp(rng.normal(0.0, noise, len(n)))
            fit = fit_chinchilla(n, d, loss, n_bootstrap=args.bootstrap, seed=int(rng.integers(1 << 30)))
            flagged.append(",".join(flags_of(fit, loss.min())) or "none")
        compute = float((6 * n * d).sum())
        print(f"{name:40s} {len(n):4d} {n.min():8.2g}-{n.max():8.2g} {d.min():8.2g}-{d.max():8.2g} {compute:9.2g} "
              f"{compute / flop_rate / 60:8.1f}  {' | '.join(flagged)}", flush=True)


if __name__ == "__main__":
    main()
