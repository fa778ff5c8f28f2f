"""CUDA graphs against the plain compiled step: same losses, and the speed of each (CUDA).

    SCALING_RESULTS_DIR=/tmp/r python3 benchmarks/cuda_graphs_check.py [--steps 60] [--accumulation 2 1]

Trains one small config (width 128, depth 4, built-in corpus, 16 sequences a micro-batch) with
``cuda_graphs`` off and on, for each accumulation count asked (with one micro-batch ``.grad`` takes the
backward graph's outputs; with more, kept buffers accumulate), and a second time with them off for the
run-to-run floor (bf16 kernels with atomics are not bitwise repeatable); prints the relative differences of
the logged training losses, largest and along the run, and the steady tokens/s of each.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def run(mode: str, steps: int, accumulation: int, tag: str = "") -> list[dict]:
    from core import train
    from experiment_utils import gen_experim
    from scaling_laws.results_layout import read_metrics_rows, run_paths
    from scaling_laws.validate import validate_experiment

    exp = gen_experim(128, label=f"graphs_{mode}{tag}_x{accumulation}", folder_name="cuda_graphs_check",
                      num_layers=4, seq_length=256, target_effective_batch_size=16 * accumulation, batch_size=16,
                      max_tokens_training=steps * 16 * accumulation * 256, eval_interval=steps, eval_sequences=32,
                      compile="on", cuda_graphs=mode, device="cuda")[0]
    cfg = validate_experiment(exp)
    paths = run_paths(cfg)
    train(cfg, paths)
    return read_metrics_rows(paths.csv)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--accumulation", type=int, nargs="+", default=[2, 1], help="micro-batches per step")
    args = parser.parse_args()
    for accumulation in args.accumulation:
        rows = {mode: run(mode, args.steps, accumulation) for mode in ("off", "on")}
        again = run("off", args.steps, accumulation, tag="_again")  # the run-to-run floor without graphs
        print(f"accumulation {accumulation}, {len(rows['on'])} logged steps:")
        for name, first, second in (("graphs on vs off", rows["off"], rows["on"]),
                                    ("off vs off again", rows["off"], again)):
            diffs = [abs(float(a["loss"]) - float(b["loss"])) / float(a["loss"]) for a, b in zip(first, second)]
            trail = " ".join(f"{diffs[i]:.1e}" for i in range(0, len(diffs), max(1, len(diffs) // 6)))
            print(f"  {name}: max relative loss difference {max(diffs):.2e}; along the run {trail}")
        for mode, mode_rows in rows.items():
            rate = statistics.median(float(r["tokens_per_second"]) for r in mode_rows[len(mode_rows) // 2:-1])
            print(f"  cuda_graphs={mode}: {rate:.3e} tokens/s, final loss {float(mode_rows[-1]['loss']):.5f}")


if __name__ == "__main__":
    main()
