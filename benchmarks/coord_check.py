"""Coordinate check (Yang et al. 2022, "Tensor Programs V", section 7 and Figure 5): is a parametrization right?

Train models of growing width (or depth) for a few Adam steps on one fixed batch at a deliberately large
learning rate, and record the mean absolute activation of every module at each step. Under a correct muP the
curves are flat in width (CompleteP: flat in depth); under the standard parametrization they grow. The
slope of log activation against log size, per module and step, says it in one number.

    python benchmarks/coord_check.py --mode width --out docs/coord_check
    python benchmarks/coord_check.py --mode depth --out docs/coord_check

writes <out>/coord_<mode>.csv and .png (one panel per step, one line per module) and prints the slopes.
The optimizer groups and learning-rate multipliers are the training loop's (parametrization.py).
"""
from __future__ import annotations

import argparse
import csv
import math
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from scaling_laws.models import build_model
from scaling_laws.models.parametrization import param_groups
from scaling_laws.training.data import load_token_data, train_batch
from scaling_laws.training.optim import build_optimizer

# A model of seconds per step on a CPU core; two heads at every width, so the head size grows with width too.
CHECK_FIELDS = dict(seq_length=32, target_effective_batch_size=8, num_heads=2, max_tokens_training=8 * 32 * 10,
                    device="cpu", warmup_fraction=0.0, lr_schedule="constant", weight_decay=0.0, grad_clip=0.0)
# arm name -> the config fields it sets (base shape filled in by arm_fields)
WIDTH_ARMS = ("sp", "mup")
DEPTH_ARMS = ("mup", "completep")


def arm_fields(arm: str, mode: str, base_width: int, base_depth: int) -> dict:
    """Config fields of one arm: standard, width-only muP, or CompleteP (alpha 1) at the base shape."""
    if arm == "sp":
        return {}
    fields = dict(use_mup=True, mup_base_width=base_width, mup_base_head_dim=base_width // 2)
    if arm == "completep":
        fields.update(completep_alpha=1.0, completep_base_depth=base_depth)
    return fields


def experiment(width: int, depth: int, seed: int, lr: float, extra: dict):
    from scaling_laws.studies.build import gen_experim
    from scaling_laws.validate import validate_experiment

    return validate_experiment(gen_experim(width, folder_name="coord_check", num_layers=depth, model_seed=seed,
                                           learning_rate=lr, **{**CHECK_FIELDS, **extra})[0])


def module_key(name: str, mode: str, num_layers: int) -> str | None:
    """The line a module's activation belongs to: every block's attn/mlp/output by name in width mode; in
    depth mode (blocks differ between depths) their mean per kind, and the last block's output (the residual
    stream the readout sees). None: not recorded."""
    match = re.fullmatch(r"blocks\.(\d+)(?:\.(attn|mlp))?", name)
    if name in ("token_embedding", "ln_final"):
        return name
    if not match:
        return None
    if mode == "width":
        return name
    kind = match.group(2)
    if kind:
        return f"blocks.*.{kind}"
    return "residual" if int(match.group(1)) == num_layers - 1 else None


def activations(cfg, inputs: torch.Tensor, targets: torch.Tensor, steps: int, mode: str) -> list[dict[str, float]]:
    """Per step, each module's mean |activation| during that step's forward pass (before its update)."""
    torch.manual_seed(cfg.model_seed)
    model = build_model(cfg)
    optimizer = build_optimizer(param_groups(model, cfg), cfg, torch.device("cpu"))
    for group in optimizer.param_groups:
        group["lr"] = cfg.learning_rate * group["lr_multiplier"]
    current: dict[str, list[float]] = defaultdict(list)

    def hook(key):
        return lambda module, args, output: current[key].append(float(output.detach().abs().mean()))

    for name, module in model.named_modules():
        key = module_key(name, mode, cfg.num_layers)
        if key:
            module.register_forward_hook(hook(key))
    records = []
    for _ in range(steps):
        current.clear()
        logits = model(inputs)
        current["logits"].append(float(logits.detach().abs().mean()))
        F.cross_entropy(logits.flatten(0, 1), targets.flatten()).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        records.append({key: float(np.mean(values)) for key, values in current.items()})
    return records


def coord_check(mode: str, sizes: list[int], arms: tuple[str, ...], *, width: int = 64, depth: int = 2,
                steps: int = 10, seeds: int = 3, lr: float = 3e-3) -> list[dict]:
    """Rows {arm, size, seed, step, module, mean_abs}; size is the width (mode width, depth fixed) or the
    depth (mode depth, width fixed). The smallest size is the base shape."""
    data = load_token_data("stdlib", 0.1, 0)
    rows = []
    for arm in arms:
        for size in sizes:
            shape = (size, depth) if mode == "width" else (width, size)
            extra = arm_fields(arm, mode, sizes[0] if mode == "width" else width, sizes[0] if mode == "depth" else depth)
            for seed in range(seeds):
                cfg = experiment(*shape, seed, lr, extra)
                inputs, targets = train_batch(data, cfg.batch_size, 1, cfg.seq_length, 0, 0, 0, 0, 1)
                for step, record in enumerate(activations(cfg, inputs, targets, steps, mode)):
                    rows += [dict(arm=arm, size=size, seed=seed, step=step, module=key, mean_abs=value)
                             for key, value in record.items()]
    return rows


def slopes(rows: list[dict]) -> dict[tuple[str, str, int], float]:
    """(arm, module, step) -> slope of log(mean over seeds of mean_abs) against log(size)."""
    grouped: dict[tuple, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        grouped[(row["arm"], row["module"], row["step"])][row["size"]].append(row["mean_abs"])
    out = {}
    for key, by_size in grouped.items():
        sizes = sorted(by_size)
        means = [float(np.mean(by_size[s])) for s in sizes]
        if all(m > 0 and math.isfinite(m) for m in means):
            out[key] = float(np.polyfit(np.log(sizes), np.log(means), 1)[0])
        else:
            out[key] = math.inf  # diverged: as far from flat as it gets
    return out


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def plot(rows: list[dict], mode: str, path: Path) -> None:
    """One row of panels per arm, one panel per step: activation against size on log-log axes."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = sorted({r["arm"] for r in rows}, key=[r["arm"] for r in rows].index)
    steps = sorted({r["step"] for r in rows})
    fig, axes = plt.subplots(len(arms), len(steps), figsize=(2.2 * len(steps), 2.4 * len(arms)), squeeze=False,
                             sharex=True)
    for i, arm in enumerate(arms):
        for j, step in enumerate(steps):
            ax = axes[i][j]
            cells = defaultdict(lambda: defaultdict(list))
            for r in rows:
                if r["arm"] == arm and r["step"] == step:
                    cells[r["module"]][r["size"]].append(r["mean_abs"])
            for module, by_size in cells.items():
                sizes = sorted(by_size)
                ax.plot(sizes, [np.mean(by_size[s]) for s in sizes], marker=".", label=module)
            ax.set(xscale="log", yscale="log")
            ax.set_title(f"{arm}: after {step} updates", fontsize=9)
            sizes = sorted({r["size"] for r in rows})
            ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(sizes))
            ax.xaxis.set_major_formatter(matplotlib.ticker.FixedFormatter([str(s) for s in sizes]))
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            ax.tick_params(axis="x", labelsize=7)
            if i == len(arms) - 1:
                ax.set_xlabel(f"{mode} ({'hidden_dim' if mode == 'width' else 'num_layers'})")
            if j == 0:
                ax.set_ylabel("mean |activation|")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1), title="module output")
    fig.suptitle(f"coordinate check in {mode}: flat lines = activations independent of {mode}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def summary(found: dict, from_step: int) -> str:
    """Per arm and module, the largest |slope| from ``from_step`` on."""
    worst: dict[tuple[str, str], float] = defaultdict(float)
    for (arm, module, step), slope in found.items():
        if step >= from_step:
            worst[(arm, module)] = max(worst[(arm, module)], abs(slope))
    return "\n".join(f"{arm:<10} {module:<20} max |slope| from step {from_step}: {value:.2f}"
                     for (arm, module), value in sorted(worst.items()))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("width", "depth"), default="width")
    parser.add_argument("--sizes", type=int, nargs="+", help="widths (default 64..1024) or depths (2..32)")
    parser.add_argument("--width", type=int, default=64, help="width in depth mode")
    parser.add_argument("--depth", type=int, default=2, help="depth in width mode")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--out", type=Path, default=Path("coord_check"))
    args = parser.parse_args(argv)
    sizes = args.sizes or ([64, 128, 256, 512, 1024] if args.mode == "width" else [2, 4, 8, 16, 32])
    arms = WIDTH_ARMS if args.mode == "width" else DEPTH_ARMS
    rows = coord_check(args.mode, sizes, arms, width=args.width, depth=args.depth, steps=args.steps,
                       seeds=args.seeds, lr=args.lr)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, args.out / f"coord_{args.mode}.csv")
    plot(rows, args.mode, args.out / f"coord_{args.mode}.png")
    print(summary(slopes(rows), from_step=3 if args.mode == "width" else 2))
    print(f"wrote {args.out / f'coord_{args.mode}.csv'} and .png")


if __name__ == "__main__":
    main()
