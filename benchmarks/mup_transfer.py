"""A small muTransfer check (docs/mup.md): the same learning-rate grid at the base width and a wider model,
standard parametrization vs muP, final validation loss per run. At the base width muP is the standard model
(tests/test_mup.py), so it is trained once and shown in both arms.

    python3 benchmarks/mup_transfer.py --widths 128 512 --steps 400 --out results_dir

Tuning the base (docs/mup.md, "What closes the gap"): ``--set KEY=VALUE`` applies to every run (e.g.
tie_embeddings=False, mup_weight_decay=coupled), ``--mup-set KEY=VALUE`` to the muP arm only (e.g.
mup_output_multiplier=4); with --mup-set the base width trains the muP arm too, as it is no longer SP there.
``--arms`` picks the arms, ``--base`` the base width (default: the first of --widths).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import Trainer  # noqa: E402
from experiment_utils import gen_experim  # noqa: E402
from scaling_laws.models.parametrization import describe_mup  # noqa: E402
from scaling_laws.training.distributed import DistContext  # noqa: E402
from scaling_laws.training.optim import get_lr  # noqa: E402
from scaling_laws.validate import validate_experiment  # noqa: E402


def parse_settings(pairs: list[str]) -> dict:
    """KEY=VALUE pairs as config overrides, VALUE read as a Python literal where it is one."""
    import ast

    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def config(width: int, lr: float, arm: str, base: int, args):
    mup = dict(use_mup=True, mup_base_width=base, **args.mup_set) if arm == "mup" else {}
    tokens = args.steps * args.batch * args.seq
    return validate_experiment(gen_experim(width, folder_name="mup_transfer", num_layers=args.layers,
                                           seq_length=args.seq, target_effective_batch_size=args.batch,
                                           max_tokens_training=tokens, learning_rate=lr, eval_sequences=args.eval,
                                           compile="off", **args.set, **mup)[0])


def final_val_loss(cfg) -> float:
    """Train cfg through the loop's own Trainer.train_step and schedule; the validation loss at the end."""
    trainer = Trainer(cfg, DistContext())
    for step in range(trainer.total_steps):
        loss, _ = trainer.train_step(trainer.step_batches(step), get_lr(step, cfg, trainer.total_steps))
    return trainer.evaluate() if bool(loss.isfinite()) else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--widths", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--lrs", type=float, nargs="+", default=[2.0 ** k for k in range(-11, -5)])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--eval", type=int, default=128)
    parser.add_argument("--out", type=Path, default=Path("mup_transfer"))
    parser.add_argument("--base", type=int, default=None, help="muP base width (default: the first of --widths)")
    parser.add_argument("--arms", nargs="+", default=["sp", "mup"], choices=["sp", "mup"])
    parser.add_argument("--set", nargs="*", default=[], help="KEY=VALUE config overrides for every run")
    parser.add_argument("--mup-set", nargs="*", default=[], help="KEY=VALUE overrides for the muP arm only")
    parser.add_argument("--tag", default="mup_transfer", help="name of the JSON file written under --out")
    args = parser.parse_args()
    args.set, args.mup_set = parse_settings(args.set), parse_settings(args.mup_set)
    base = args.base or args.widths[0]
    args.out.mkdir(parents=True, exist_ok=True)
    print(describe_mup(config(args.widths[-1], 1e-3, "mup", base, args)), flush=True)
    rows = []
    for width in args.widths:
        at_base_sp_is_mup = width == base and not args.mup_set and "sp" in args.arms
        for arm in [a for a in args.arms if not (at_base_sp_is_mup and a == "mup")]:
            for lr in args.lrs:
                started = time.perf_counter()
                loss = final_val_loss(config(width, lr, arm, base, args))
                rows.append(dict(width=width, arm=arm, lr=lr, val_loss=loss, seconds=time.perf_counter() - started,
                                 settings=args.set, mup_settings=args.mup_set if arm == "mup" else {}))
                print(json.dumps(rows[-1]), flush=True)
                (args.out / f"{args.tag}.json").write_text(json.dumps(rows, indent=1))
    print(table(rows, base if not args.mup_set else None, args.lrs))


def table(rows: list[dict], base: int, lrs: list[float]) -> str:
    """Markdown: final val loss per (width, arm) and lr, the best lr marked."""
    lines = ["| width | arm | " + " | ".join(f"{lr:.3g}" for lr in lrs) + " | best lr | best loss |",
             "| --- | --- |" + " --- |" * (len(lrs) + 2)]
    keys = sorted({(r["width"], r["arm"]) for r in rows})
    for width, arm in keys:
        losses = {r["lr"]: r["val_loss"] for r in rows if r["width"] == width and r["arm"] == arm}
        finite = {lr: v for lr, v in losses.items() if v == v}
        best = min(finite, key=finite.get) if finite else None
        cells = [("**%.3f**" if lr == best else "%.3f") % losses[lr] if lr in losses else "" for lr in lrs]
        label = f"{arm} (= muP)" if width == base and arm == "sp" else arm
        lines.append(f"| {width} | {label} | " + " | ".join(cells) + f" | {best:.3g} | {finite[best]:.3f} |"
                     if best else f"| {width} | {label} | " + " | ".join(cells) + " | - | - |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
