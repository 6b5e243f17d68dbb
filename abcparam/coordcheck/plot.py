"""Plots of coordinate checks: RMS against width per layer (one panel per layer, at most four a
row), and the measured alignment or fitted slopes against the training step.

Every figure can be redrawn from the saved ``results.json`` alone (:func:`replot`), without
training again.  Two predictions are drawn for each layer at the last step:

- **pred A**: the slope predicted from what the same runs measured (the alignment exponents, the
  layer's input scale and change, the angles between its three change terms);
- **pred B**: the slope predicted from the named ("preset") alignment, as the engine derives its
  tables.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..figures import finish, legend_entries, panel_grid

PRED_A = "pred A: from the measured alignment (α, ω, u), same runs"
PRED_B = "pred B: from the preset alignment"
QUANTITIES = {
    "output": "RMS of the layer's output",
    "delta": "RMS of its change since init",
    "update": "RMS of the weight update",
}


def _geomean(values: list[float]) -> float:
    return float(np.exp(np.mean(np.log(values))))


def plot_result(result, out: Path, quantities: tuple[str, ...] = tuple(QUANTITIES)) -> list[Path]:
    """One PNG per quantity (output, delta, update): a panel per layer, a line per step, and the
    two predicted slopes (pred A, pred B) at the last step drawn from the smallest width."""
    bad = [q for q in quantities if q not in QUANTITIES]
    if bad:
        raise ValueError(f"quantities {bad}: accepted {', '.join(QUANTITIES)}")
    out = Path(out)
    records, fits, cfg = result.records, result.fits, result.config
    layers = list(dict.fromkeys(r["layer"] for r in records))
    steps = sorted({r["step"] for r in records})
    fit_at = {(f["layer"], f["quantity"], f["step"]): f for f in fits}
    paths = []
    for q in quantities:
        ylabel = QUANTITIES[q]
        fig, axes = panel_grid(len(layers))
        for ax, layer in zip(axes, layers):
            by_step: dict = defaultdict(lambda: defaultdict(list))
            for r in records:
                v = r.get(q)
                if r["layer"] == layer and v is not None and v > 0 and np.isfinite(v):
                    by_step[r["step"]][r["width"]].append(v)
            for step in steps:
                if step in by_step:
                    ws = sorted(by_step[step])
                    ax.plot(
                        ws,
                        [_geomean(by_step[step][w]) for w in ws],
                        marker="o",
                        ms=3,
                        label=f"step {step}",
                    )
            last = fit_at.get((layer, q, steps[-1]))
            title = layer
            if last and by_step.get(steps[-1]):
                ws = sorted(by_step[steps[-1]])
                y0 = _geomean(by_step[steps[-1]][ws[0]])
                for key, style, label in (
                    ("predicted_slope", "k--", PRED_A),
                    ("predicted_slope_preset", "r:", PRED_B),
                ):
                    if last.get(key) is not None:
                        ys = [y0 * (w / ws[0]) ** last[key] for w in ws]
                        ax.plot(ws, ys, style, lw=1.2, label=label)
                title += "\n" + ", ".join(
                    f"{name} {last[key]:+.2f}"
                    for name, key in (
                        ("measured", "measured_slope"),
                        ("A", "predicted_slope"),
                        ("B", "predicted_slope_preset"),
                    )
                    if last.get(key) is not None
                )
            ax.set_title(title, fontsize=10)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("width n", fontsize=10)
            ax.set_ylabel(ylabel, fontsize=10)
            ax.tick_params(labelsize=9)
        handles, labels = legend_entries(axes)
        title = (
            f"{cfg['model']}, {cfg['scheme']}, {cfg['optimizer']} (LR {cfg.get('lr_exponents')}, "
            f"lr = {cfg.get('lr')}): {ylabel}; slopes at step {steps[-1]}"
        )
        paths.append(finish(fig, out / f"{q}.png", title=title, handles=handles, labels=labels))
    return paths


def replot(folder: Path, quantities: tuple[str, ...] = tuple(QUANTITIES)) -> list[Path]:
    """Redraw a saved coordinate check's figures from its ``results.json`` (no training)."""
    folder = Path(folder)
    data = json.loads((folder / "results.json").read_text())
    if not data.get("records"):
        raise ValueError(f"{folder / 'results.json'} has no records to plot")
    result = SimpleNamespace(records=data["records"], fits=data["fits"], config=data["config"])
    return plot_result(result, folder, quantities)


def plot_alignment_evolution(data: dict, path: Path, title: str = "") -> Path:
    """Measured alignment exponents (α, ω, u) of each layer against the step, one panel per
    scheme; ``data`` maps a scheme label to its alignment fits (``layer``, ``variable``,
    ``step``, ``exponent``)."""
    colors = ("tab:green", "tab:blue", "tab:orange", "tab:purple", "tab:red")
    fig, axes = panel_grid(len(data), panel=(4.0, 3.0), sharey=True)
    for ax, (label, fits) in zip(axes, data.items()):
        layers = list(dict.fromkeys(a["layer"] for a in fits))
        for layer, color in zip(layers, colors[-len(layers) :]):
            for var, style in (("alpha", "--"), ("omega", "-"), ("u", ":")):
                pts = sorted(
                    (a["step"], a["exponent"])
                    for a in fits
                    if a["layer"] == layer and a["variable"] == var and a["exponent"] is not None
                )
                if pts:
                    ax.plot(*zip(*pts), style, color=color, lw=1.2, label=f"{layer}: {var}")
        ax.axhline(0.5, color="grey", lw=0.6)
        ax.axhline(1.0, color="grey", lw=0.6)
        ax.set_title(label, fontsize=11)
        ax.set_xlabel("training step", fontsize=10)
        ax.set_ylabel("measured alignment exponent", fontsize=10)
        ax.set_ylim(0.2, 1.3)
        ax.tick_params(labelsize=9)
    handles, labels = legend_entries(axes)
    return finish(
        fig,
        path,
        title="Alignment exponents against the step" + title + " (1/2: independent, 1: aligned)",
        handles=handles,
        labels=labels,
    )


def plot_slopes_vs_step(results: dict, path: Path, layers: dict | None = None) -> Path:
    """The fitted width slope of each layer's change against the step, measured and predicted
    (pred A and pred B), one panel per scheme; ``results`` maps a label to its judged fits."""
    layers = layers or {"hidden.0": "tab:green", "hidden.1": "tab:blue", "readout": "tab:red"}
    fig, axes = panel_grid(len(results), panel=(4.0, 3.0), sharey=True)
    for ax, (label, fits) in zip(axes, results.items()):
        for layer, color in layers.items():
            rows = sorted(
                (f["step"], f) for f in fits if f["layer"] == layer and f["quantity"] == "delta"
            )
            steps = [s for s, _ in rows]
            for key, style, width, what in (
                ("measured_slope", "-", 1.4, "measured"),
                ("predicted_slope", ":", 1.2, "pred A"),
                ("predicted_slope_preset", "--", 0.8, "pred B"),
            ):
                ys = [np.nan if f.get(key) is None else f[key] for _, f in rows]
                ax.plot(steps, ys, style, color=color, lw=width, label=f"{layer}: {what}")
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_title(label, fontsize=11)
        ax.set_xscale("log")
        ax.set_xlabel("training step", fontsize=10)
        ax.set_ylabel("width slope of the change since init", fontsize=10)
        ax.tick_params(labelsize=9)
    handles, labels = legend_entries(axes)
    return finish(
        fig,
        path,
        title=f"Slopes against the step ({PRED_A}; {PRED_B})",
        handles=handles,
        labels=labels,
    )
