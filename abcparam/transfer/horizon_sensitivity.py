"""Wortsman et al.'s LR sensitivity (arXiv 2309.14322, Sec. 3.3, eq. 1) against the horizon and the
width, from saved warmup-stable-decay runs (torch-free).

Per (width, batch, horizon, seed): the mean over the batch's LR window of min(L(η), L_0) − L*
(``forecasts.sensitivity.lr_sensitivity``; every width and horizon of one batch share the window,
so the values compare).  Time Transfer (arXiv 2410.05838) reports that the sensitivity falls as
the horizon grows and stays put under μP width scaling; the slope against log2 T per (width,
batch) has a seed-bootstrap interval.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..forecasts.sensitivity import lr_sensitivity

BOOTSTRAP = 2000


def sensitivities(rows: list[dict], windows: dict[int, list[float]]) -> dict:
    """{(width, batch, horizon): {seed: sensitivity}} over each batch's LR window ``windows``
    (batches without a window, windows of one LR, which give no curve, and seeds missing an LR of
    the window are left out)."""
    curves: dict = defaultdict(dict)
    initial: dict = {}
    for row in rows:
        window = windows.get(row["batch"])
        if window is None or len(window) < 2 or row["log2_lr"] not in window:
            continue
        for horizon, res in row["results"].items():
            cell = (row["width"], row["batch"], int(horizon), row["seed"])
            loss = float("inf") if res["diverged"] else res["val_loss"]
            curves[cell][row["log2_lr"]] = loss
            initial.setdefault(cell, []).append(row["initial_loss"])
    out: dict = defaultdict(dict)
    for (w, b, t, s), by_lr in sorted(curves.items()):
        if sorted(by_lr) != sorted(windows[b]):
            continue
        losses = [by_lr[x] for x in sorted(by_lr)]
        out[(w, b, t)][s] = lr_sensitivity(losses, float(np.mean(initial[(w, b, t, s)])))
    return dict(out)


def sensitivity_summary(
    rows: list[dict], windows: dict[int, list[float]], bootstrap: int = BOOTSTRAP, seed: int = 0
) -> dict:
    """Per cell mean ± sd over seeds; per (width, batch) the slope in log2 T with a 95 % seed
    bootstrap; per (batch, horizon) the largest/smallest ratio across widths."""
    table = sensitivities(rows, windows)
    rng = np.random.default_rng(seed)
    cells = [
        {
            "width": w,
            "batch": b,
            "horizon": t,
            "mean": float(np.mean(list(v.values()))),
            "sd": float(np.std(list(v.values()), ddof=1)) if len(v) > 1 else None,
            "seeds": len(v),
        }
        for (w, b, t), v in sorted(table.items())
    ]
    slopes = []
    for w, b in sorted({(w, b) for w, b, _ in table}):
        pts = sorted((t, v) for (w2, b2, t), v in table.items() if (w2, b2) == (w, b))
        if len(pts) < 2:
            continue
        x = np.log2([t for t, _ in pts])

        def slope(sample: bool, pts=pts, x=x) -> float:
            ys = [
                np.mean(rng.choice(list(v.values()), size=len(v)) if sample else list(v.values()))
                for _, v in pts
            ]
            return float(np.polyfit(x, ys, 1)[0])

        draws = [slope(True) for _ in range(bootstrap)]
        lo, hi = np.percentile(draws, [2.5, 97.5])
        slopes.append(
            {"width": w, "batch": b, "slope": slope(False), "low": float(lo), "high": float(hi)}
        )
    across = []
    for b, t in sorted({(b, t) for _, b, t in table}):
        means = [c["mean"] for c in cells if (c["batch"], c["horizon"]) == (b, t)]
        if len(means) >= 2:
            across.append({"batch": b, "horizon": t, "ratio": max(means) / min(means)})
    return {"cells": cells, "slopes_in_horizon": slopes, "across_widths": across}


def sensitivity_markdown(summary: dict) -> str:
    """The per-cell table and the slopes as markdown."""
    lines = ["| width | batch | horizon | LR sensitivity (mean ± sd) |", "|---|---|---|---|"]
    for c in summary["cells"]:
        sd = "" if c["sd"] is None else f" ± {c['sd']:.3f}"
        lines.append(f"| {c['width']} | {c['batch']} | {c['horizon']} | {c['mean']:.3f}{sd} |")
    lines += ["", "| width | batch | slope in log2 T [95 %] |", "|---|---|---|"]
    for s in summary["slopes_in_horizon"]:
        lines.append(
            f"| {s['width']} | {s['batch']} | {s['slope']:+.3f} [{s['low']:+.3f}, {s['high']:+.3f}] |"
        )
    return "\n".join(lines) + "\n"
