"""How well the best learning rate transfers across widths (TP-V's muTransfer, quantified).

Per (scheme, width, seed): the optimum log2 LR is the vertex of a parabola fitted (numpy) to
the validation loss at the grid minimum and its two neighbours.  Diverged runs (non-finite loss,
loss above its initial value, or loss at chance) are left out.  A minimum on the edge of the LR
grid only bounds the optimum (``≤ lo`` / ``≥ hi``): it is reported as a bound, flagged, and kept
out of the drift.  Per (scheme, width): mean ± standard error over seeds (no uncertainty from
fewer than two seeds).  Per scheme: the drift of the optimum per doubling of width, the slope of
log2 lr* against log2 width (scipy linregress over all seeds) ± its standard error.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from scipy import stats

LOW, HIGH = "low", "high"


def optimum_log2_lr(points: list[tuple[float, float]]) -> float:
    """Vertex of the parabola through the minimum and its neighbours (log2 LR, loss)."""
    pts = sorted((x, y) for x, y in points if y is not None and math.isfinite(y))
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


def is_diverged(row: dict) -> bool:
    """A run the analysis skips: flagged diverged, or with a missing or non-finite loss."""
    loss = row.get("val_loss")
    return bool(row.get("diverged")) or not isinstance(loss, int | float) or not math.isfinite(loss)


def edge_of(points: list[tuple[float, float]], grid: list[float]) -> str | None:
    """``"low"``/``"high"`` when the smallest finite loss sits on that end of the LR grid."""
    pts = [(x, y) for x, y in points if y is not None and math.isfinite(y)]
    if not pts or len(grid) < 2:
        return None
    best = min(pts, key=lambda p: p[1])[0]
    return LOW if best == min(grid) else HIGH if best == max(grid) else None


def summarise(rows: list[dict], vary: str = "width") -> dict:
    """{scheme: {"optimum": {width: (mean, stderr or None)}, "bounds": {width: "low"|"high"},
    "drift": (slope, stderr or None), "seeds": {width: n}, "flags": [str]}}; with
    ``vary="depth"`` the same per depth (drift per doubling of depth).

    A width whose optimum lies on the grid edge keeps the edge value in ``optimum`` with its
    side in ``bounds``; it is left out of the drift.  ``stderr`` is None below two seeds."""
    if vary not in ("width", "depth"):
        raise ValueError(f"vary = {vary!r}; accepted: width, depth")
    grids: dict[tuple, set] = defaultdict(set)
    curves: dict[tuple, list] = defaultdict(list)
    for r in rows:
        cell = (r["scheme"], r[vary], r["seed"])
        grids[cell].add(r["log2_lr"])
        if not is_diverged(r):
            curves[cell].append((r["log2_lr"], r["val_loss"]))
    per: defaultdict[str, defaultdict[int, list]] = defaultdict(lambda: defaultdict(list))
    for cell, grid in grids.items():
        scheme, width, _seed = cell
        pts = curves.get(cell, [])
        per[scheme][width].append((optimum_log2_lr(pts), edge_of(pts, sorted(grid)), sorted(grid)))
    out = {}
    for scheme, by_width in per.items():
        optimum: dict[int, tuple[float, float | None]] = {}
        bounds: dict[int, str] = {}
        seeds: dict[int, int] = {}
        flags: list[str] = []
        xs, ys = [], []
        for width, found in sorted(by_width.items()):
            vals = [v for v, _, _ in found if math.isfinite(v)]
            seeds[width] = len(vals)
            if not vals:
                flags.append(
                    f"{scheme} {vary} {width}: no usable run (all diverged or stayed at chance); "
                    f"no optimum"
                )
                continue
            edges = [e for _, e, _ in found if e is not None]
            grid = found[0][2]
            if edges:
                side = max(set(edges), key=edges.count)
                value = min(grid) if side == LOW else max(grid)
                optimum[width] = (float(value), None)
                bounds[width] = side
                flags.append(
                    f"{scheme} {vary} {width}: the best LR is on the {side} edge of the grid "
                    f"(log2 lr* {'≤' if side == LOW else '≥'} {value:g}); widen --lrs; this {vary} "
                    f"is left out of the drift"
                )
                continue
            err = float(np.std(vals, ddof=1) / math.sqrt(len(vals))) if len(vals) > 1 else None
            optimum[width] = (float(np.mean(vals)), err)
            xs += [math.log2(width)] * len(vals)
            ys += vals
        drift: tuple[float, float | None] = (float("nan"), None)
        if len(set(xs)) > 1:
            fit = stats.linregress(xs, ys)
            # one seed per width, or a line through two points: no error estimate, not ± 0.00
            several = len(xs) > 2 and len(xs) > len(set(xs)) and math.isfinite(fit.stderr)
            drift = (float(fit.slope), float(fit.stderr) if several else None)
        else:
            flags.append(f"{scheme}: fewer than two {vary}s with an interior optimum; no drift")
        out[scheme] = {
            "optimum": optimum,
            "bounds": bounds,
            "drift": drift,
            "seeds": seeds,
            "flags": flags,
        }
    return out


def _value(mean: float, err: float | None = None, bound: str | None = None) -> str:
    if bound is not None:
        return f"{'≤' if bound == LOW else '≥'} {mean:+.2f}"
    if not math.isfinite(mean):
        return "—"
    return f"{mean:+.2f}" if err is None else f"{mean:+.2f} ± {err:.2f}"


def table(summary: dict, vary: str = "width") -> str:
    """Markdown table: optimum log2 LR per width (or depth) (mean ± stderr over seeds; a bound
    at a grid edge) and drift per doubling, one row per scheme (the number muTransfer, TP-V,
    says is ~0); the flags follow the table."""
    widths = sorted({w for s in summary.values() for w in (*s["optimum"], *s.get("seeds", ()))})
    at = "@ " if vary == "width" else "@ L="
    head = (
        "| scheme | "
        + " | ".join(f"log2 lr* {at}{w}" for w in widths)
        + (" | drift per doubling |" if vary == "width" else " | drift per depth doubling |")
    )
    lines = [head, "|" + "---|" * (len(widths) + 2)]
    flags: list[str] = []
    for scheme, s in summary.items():
        bounds = s.get("bounds", {})
        cells = [
            _value(s["optimum"][w][0], s["optimum"][w][1], bounds.get(w))
            if w in s["optimum"]
            else "—"
            for w in widths
        ]
        lines.append(
            f"| {scheme} | " + " | ".join(cells) + f" | {_value(s['drift'][0], s['drift'][1])} |"
        )
        flags += s.get("flags", [])
    if flags:
        lines += ["", *(f"- flag: {f}" for f in flags)]
    return "\n".join(lines)
