"""How well the best learning rate transfers across widths (TP-V's muTransfer, quantified).

Per (scheme, width, seed): the optimum log2 LR is the vertex of a parabola fitted (numpy) to
the validation loss at the grid minimum and its two neighbours (the grid point itself at an
edge).  Per (scheme, width): mean ± standard error over seeds.  Per scheme: the drift of the
optimum per doubling of width, the slope of log2 lr* against log2 width (scipy linregress over
all seeds) ± its standard error.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from scipy import stats


def optimum_log2_lr(points: list[tuple[float, float]]) -> float:
    """Vertex of the parabola through the minimum and its neighbours (log2 LR, loss)."""
    pts = sorted((x, y) for x, y in points if math.isfinite(y))
    if not pts:
        return float("nan")
    i = min(range(len(pts)), key=lambda j: pts[j][1])
    if i == 0 or i == len(pts) - 1:
        return pts[i][0]
    xs, ys = zip(*pts[i - 1 : i + 2])
    a, b, _ = np.polyfit(xs, ys, 2)
    if a <= 0:
        return pts[i][0]
    return float(np.clip(-b / (2 * a), xs[0], xs[-1]))


def summarise(rows: list[dict], vary: str = "width") -> dict:
    """{scheme: {"optimum": {width: (mean, stderr)}, "drift": (slope, stderr)}}; with
    ``vary="depth"`` the same per depth (drift per doubling of depth)."""
    if vary not in ("width", "depth"):
        raise ValueError(f"vary = {vary!r}; accepted: width, depth")
    curves = defaultdict(list)
    for r in rows:
        curves[(r["scheme"], r[vary], r["seed"])].append((r["log2_lr"], r["val_loss"]))
    per: defaultdict[str, defaultdict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (scheme, width, _seed), pts in curves.items():
        per[scheme][width].append(optimum_log2_lr(pts))
    out = {}
    for scheme, by_width in per.items():
        optimum = {}
        xs, ys = [], []
        for width, values in sorted(by_width.items()):
            vals = [v for v in values if math.isfinite(v)]
            err = float(np.std(vals, ddof=1) / math.sqrt(len(vals))) if len(vals) > 1 else 0.0
            optimum[width] = (float(np.mean(vals)), err)
            xs += [math.log2(width)] * len(vals)
            ys += vals
        fit = stats.linregress(xs, ys) if len(set(xs)) > 1 else None
        out[scheme] = {
            "optimum": optimum,
            "drift": (fit.slope, fit.stderr) if fit else (float("nan"), float("nan")),
        }
    return out


def table(summary: dict, vary: str = "width") -> str:
    """Markdown table: optimum log2 LR per width (or depth) (mean ± stderr over seeds) and drift
    per doubling, one row per scheme (the number muTransfer, TP-V, says is ~0)."""
    widths = sorted({w for s in summary.values() for w in s["optimum"]})
    at = "@ " if vary == "width" else "@ L="
    head = (
        "| scheme | "
        + " | ".join(f"log2 lr* {at}{w}" for w in widths)
        + (" | drift per doubling |" if vary == "width" else " | drift per depth doubling |")
    )
    lines = [head, "|" + "---|" * (len(widths) + 2)]
    for scheme, s in summary.items():
        cells = [
            f"{s['optimum'][w][0]:+.2f} ± {s['optimum'][w][1]:.2f}" if w in s["optimum"] else "—"
            for w in widths
        ]
        lines.append(
            f"| {scheme} | "
            + " | ".join(cells)
            + f" | {s['drift'][0]:+.2f} ± {s['drift'][1]:.2f} |"
        )
    return "\n".join(lines)
