"""Coordinate checks over 100 steps on a fresh batch each step (closer to real training than the
3-step, one-batch grid): does each preset's alignment assumption hold later in training?

MLP (Everett form), Adam, SP with per-layer LRs, muP and u-muP, widths 128..1024, 2 seeds.
Saves, per scheme, every judged fit and flag (no raw records, to stay small) and one figure: the delta
slope of each layer against the step, measured and predicted (preset and measured alignment).
Run: ``python experiments/coordcheck_cpu_long.py [--steps 100]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib.pyplot as plt
from tqdm.std import tqdm  # tqdm.auto warns on book pages (no notebook widgets)

from abcparam.coordcheck import run_coord_check
from abcparam.coordcheck.result import NULL_REASONS
from abcparam.records import save_json
from experiments.lab.paths import results_dir

from . import reproducible

SCHEMES = {"SP (per-layer LRs)": "sp", "μP": "mup", "u-μP": "u-mup"}
LAYERS = {"hidden.0": "tab:green", "hidden.1": "tab:blue", "readout": "tab:red"}
#: (fit field, line style, width, alpha, label) of each curve drawn per layer
CURVES = (
    ("measured_slope", "-", 1.2, None, "measured"),
    ("predicted_slope", ":", 1, None, "predicted (measured α,ω,u)"),
    ("predicted_slope_preset", "--", 0.6, 0.6, "preset"),
)


def plot(results: dict, path: Path) -> None:
    fig, axes = plt.subplots(1, len(results), figsize=(12, 3.3), sharey=True)
    for ax, (label, fits) in zip(axes, results.items()):
        for layer, color in LAYERS.items():
            rows = sorted(
                (f["step"], f) for f in fits if f["layer"] == layer and f["quantity"] == "delta"
            )
            steps = [s for s, _ in rows]
            for key, style, lw, alpha, what in CURVES:
                ax.plot(steps, [f[key] for _, f in rows], style, color=color, lw=lw, alpha=alpha,
                        label=f"{layer} {what}")  # fmt: skip
        ax.set(title=label, xlabel="step", xscale="log")
        ax.axhline(0, color="grey", lw=0.5)
    axes[0].set_ylabel("slope of the change vs width")
    axes[-1].legend(fontsize=5)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument(
        "--out",
        default=None,
        help="results folder (default: experiments/results/coordcheck_cpu_long)",
    )
    args = parser.parse_args(argv)
    reproducible()
    widths = (128, 256, 512, 1024)
    t0 = time.perf_counter()
    started = time.time()
    results, summaries, flags = {}, {}, {}
    for label, scheme in tqdm(SCHEMES.items(), desc="long coordinate checks"):
        res = run_coord_check(
            model="mlp",
            scheme=scheme,
            optimizer="adam",
            widths=widths,
            steps=args.steps,
            seeds=args.seeds,
            fixed_batch=False,
            progress=False,
        )
        results[label] = res.judged
        summaries[label] = res.summary()
        flags[label] = res.flags
        config = res.config
        print(f"{label}: {summaries[label]}", flush=True)
    wall = time.perf_counter() - t0
    out = Path(args.out) if args.out else results_dir("coordcheck_cpu_long")
    out.mkdir(parents=True, exist_ok=True)
    plot(results, out / "delta_slope_vs_step.png")
    save_json(
        out / "results.json",
        {
            "config": {k: v for k, v in config.items() if k not in ("rules", "scheme")},
            "summary": summaries,
            "flags": flags,
            "fits": results,
        },
        started=started,
        why=NULL_REASONS,
        indent=0,
    )
    print(f"wall {wall:.0f} s")
    return 0
