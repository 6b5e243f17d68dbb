"""How alignment evolves over training (issue: alignment-aware coordinate checks).

Measures alpha, omega, u per layer over steps 1..50 for SP (per-layer LRs), muP and u-muP with
Adam on the MLP (widths 128..1024, 2 seeds), twice: on one repeated batch (mup's coordinate-check
convention) and on a fresh batch every step (``--fresh-steps``, default 200, closer to real
training); saves the fits and plots; and draws the predicted-vs-measured scatter over every judged
fit of the saved CPU grid.
Run: ``python experiments/alignment_evolution.py [--steps 50] [--fresh-steps 200]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib.pyplot as plt

from abcparam.coordcheck import run_coord_check
from abcparam.records import save_json
from experiments.lab.paths import results_dir

from . import reproducible

SCHEMES = {"SP (per-layer LRs)": "sp", "μP": "mup", "u-μP": "u-mup"}


def evolution(steps: int, fixed_batch: bool = True) -> dict:
    from tqdm.std import tqdm  # tqdm.auto warns on book pages (no notebook widgets)

    out = {}
    which = "one repeated batch" if fixed_batch else "a fresh batch each step"
    for label, scheme in tqdm(SCHEMES.items(), desc=f"alignment over {steps} steps, {which}"):
        res = run_coord_check(
            model="mlp",
            scheme=scheme,
            optimizer="adam",
            widths=(128, 256, 512, 1024),
            steps=steps,
            seeds=2,
            progress=False,
            fixed_batch=fixed_batch,
        )
        out[label] = [a for a in res.alignment_fits]
    return out


def plot_evolution(data: dict, path: Path, title: str = "") -> None:
    fig, axes = plt.subplots(1, len(data), figsize=(12, 3.2), sharey=True)
    for ax, (label, fits) in zip(axes, data.items()):
        for layer, color in (
            ("hidden.0", "tab:green"),
            ("hidden.1", "tab:blue"),
            ("readout", "tab:red"),
        ):
            for var, style in (("omega", "-"), ("alpha", "--"), ("u", ":")):
                pts = sorted(
                    (a["step"], a["exponent"])
                    for a in fits
                    if a["layer"] == layer and a["variable"] == var
                )
                if pts:
                    ax.plot(*zip(*pts), style, color=color, lw=1, label=f"{layer} {var}")
        ax.axhline(0.5, color="grey", lw=0.5)
        ax.axhline(1.0, color="grey", lw=0.5)
        ax.set(title=f"{label}{title}", xlabel="step", ylim=(0.2, 1.3))
    axes[0].set_ylabel("measured alignment exponent")
    axes[-1].legend(fontsize=5, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def scatter(grid: Path, path: Path) -> dict:
    preset, measured = [], []
    for f_path in sorted(grid.glob("*/results.json")):
        for f in json.loads(f_path.read_text())["fits"]:
            if f["judged"]:
                preset.append((f["predicted_slope_preset"], f["measured_slope"]))
                measured.append((f["predicted_slope"], f["measured_slope"]))
    fig, ax = plt.subplots(figsize=(4.6, 4.6))
    ax.scatter(*zip(*preset), s=8, color="tab:red", alpha=0.5, label="preset alignment")
    ax.scatter(*zip(*measured), s=8, color="tab:blue", alpha=0.5, label="measured alignment")
    values = [v for pair in preset + measured for v in pair]
    lim = [min(values) - 0.3, max(values) + 0.3]
    ax.plot(lim, lim, "k-", lw=0.6)
    ax.fill_between(
        lim,
        [v - 0.15 for v in lim],
        [v + 0.15 for v in lim],
        color="grey",
        alpha=0.2,
        label="±0.15",
    )
    ax.set(
        xlabel="predicted slope", ylabel="measured slope", title="every judged fit of the CPU grid"
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    within = lambda pts: sum(abs(p - m) <= 0.15 for p, m in pts)  # noqa: E731
    return {
        "fits": len(preset),
        "within_preset": within(preset),
        "within_measured": within(measured),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--fresh-steps", type=int, default=200)
    parser.add_argument(
        "--out", default=None, help="results folder (default: experiments/results/alignment_cpu)"
    )
    args = parser.parse_args(argv)
    reproducible()
    out = Path(args.out) if args.out else results_dir("alignment_cpu")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    started = time.time()
    data = evolution(args.steps)
    plot_evolution(data, out / "alignment_vs_step.png", ", one repeated batch")
    fresh = evolution(args.fresh_steps, fixed_batch=False)
    plot_evolution(fresh, out / "alignment_vs_step_fresh.png", ", fresh batch each step")
    counts = scatter(results_dir("coordcheck_cpu"), out / "predicted_vs_measured.png")
    summary = {
        "steps": args.steps,
        "widths": [128, 256, 512, 1024],
        "seeds": 2,
        "scatter": counts,
        "alignment_fits": data,
        "fresh_steps": args.fresh_steps,
        "alignment_fits_fresh": fresh,
    }
    save_json(out / "results.json", summary, started=started)
    for kind, runs, steps in (("repeated", data, args.steps), ("fresh", fresh, args.fresh_steps)):
        for label, fits in runs.items():
            ro = {
                a["step"]: a["exponent"]
                for a in fits
                if a["layer"] == "readout" and a["variable"] == "omega"
            }
            print(
                f"{kind} {label}: readout omega step 1 {ro[1]:.2f}, step 10 "
                f"{ro.get(10, float('nan')):.2f}, step {steps} {ro[steps]:.2f}"
            )
    print(counts, f"wall {time.perf_counter() - t0:.0f} s")
    return 0
