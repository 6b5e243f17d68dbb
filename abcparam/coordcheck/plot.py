"""Plots of a coordinate check: RMS vs width per layer, one line per step, slopes annotated."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

# a Figure drawn and saved directly (no pyplot): no backend is switched, no window opens, and a
# notebook's own figures are untouched
from matplotlib.figure import Figure


def plot_result(result, out: Path) -> list[Path]:
    """One PNG per quantity; dashed lines show the predicted slope at the last step."""
    paths = []
    layers = list(dict.fromkeys(r["layer"] for r in result.records))
    steps = sorted({r["step"] for r in result.records})
    fit_at = {(f["layer"], f["quantity"], f["step"]): f for f in result.fits}
    for q in ("output", "delta", "update"):
        fig = Figure(figsize=(2.6 * len(layers), 2.8))
        axes = fig.subplots(1, len(layers), squeeze=False)
        for ax, layer in zip(axes[0], layers):
            by_step: defaultdict[int, defaultdict[int, list[float]]] = defaultdict(
                lambda: defaultdict(list)
            )
            for r in result.records:
                if r["layer"] == layer and r.get(q, 0) and r[q] > 0 and np.isfinite(r[q]):
                    by_step[r["step"]][r["width"]].append(r[q])
            for step in steps:
                if step not in by_step:
                    continue
                ws = sorted(by_step[step])
                ys = [np.exp(np.mean(np.log(by_step[step][w]))) for w in ws]
                ax.plot(ws, ys, marker="o", ms=3, label=f"t={step}")
            last = fit_at.get((layer, q, steps[-1]))
            if last and by_step.get(steps[-1]):
                ws = sorted(by_step[steps[-1]])
                y0 = np.exp(np.mean(np.log(by_step[steps[-1]][ws[0]])))
                for slope, style, lab in (
                    (last["predicted_slope"], "k--", "pred (meas. align)"),
                    (last["predicted_slope_preset"], "r:", "pred (preset)"),
                ):
                    ax.plot(ws, [y0 * (w / ws[0]) ** slope for w in ws], style, lw=1, label=lab)
                ax.set_title(
                    f"{layer}\nmeas {last['measured_slope']:+.2f} "
                    f"pred {last['predicted_slope']:+.2f}/{last['predicted_slope_preset']:+.2f}",
                    fontsize=7,
                )
            else:
                ax.set_title(layer, fontsize=7)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.tick_params(labelsize=6)
        axes[0][0].set_ylabel(f"RMS {q}", fontsize=8)
        axes[0][-1].legend(fontsize=5)
        cfg = result.config
        fig.suptitle(
            f"{cfg['model']} {cfg['scheme']} {cfg['optimizer']} "
            f"(LR {cfg['lr_exponents']}, lr={cfg['lr']}): {q}",
            fontsize=8,
        )
        fig.tight_layout()
        path = out / f"{q}.png"
        fig.savefig(path, dpi=90)
        paths.append(path)
    return paths
