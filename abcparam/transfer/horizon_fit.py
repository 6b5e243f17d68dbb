"""Exponents of the optimal learning rate in the horizon T and the batch size B, from saved
warmup-stable-decay runs (torch-free: numpy only).

Per (width, batch, horizon, seed): log2 η* is the vertex of a parabola through the loss minimum
over the LR grid and its two neighbours (``analysis.optimum_log2_lr``); a minimum on the grid's
edge only bounds η* and is left out of the fits (listed in ``edges``).  A slope is the
least-squares slope of the seed-mean log2 η* against log2 T (or log2 B); its interval is the
2.5–97.5 % range over bootstrap resamples of the seeds (each cell resampled independently).
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from .analysis import edge_of, optimum_log2_lr

BOOTSTRAP = 2000


def optima(rows: list[dict]) -> tuple[dict, list]:
    """{(width, batch, horizon): {seed: log2 η*}} and the list of cells whose minimum is on an
    edge of the LR grid [(width, batch, horizon, seed, "low"|"high")]."""
    points: dict = defaultdict(list)
    for row in rows:
        for horizon, res in row["results"].items():
            loss = res["val_loss"]
            ok = not res["diverged"] and isinstance(loss, int | float) and math.isfinite(loss)
            cell = (row["width"], row["batch"], int(horizon), row["seed"])
            points[cell].append((row["log2_lr"], loss if ok else math.inf))
    out: dict = defaultdict(dict)
    edges = []
    for (w, b, t, s), pts in sorted(points.items()):
        grid = sorted({x for x, _ in pts})
        edge = edge_of(pts, grid)
        if edge is not None or all(not math.isfinite(y) for _, y in pts):
            edges.append((w, b, t, s, edge or "all diverged"))
            continue
        out[(w, b, t)][s] = optimum_log2_lr(pts)
    return dict(out), edges


def _slope(xs: list[float], ys: list[float]) -> float:
    return float(np.polyfit(np.log2(xs), ys, 1)[0]) if len(xs) >= 2 else float("nan")


def slope_with_interval(
    cells: list[tuple[float, dict[int, float]]], seed: int = 0, bootstrap: int = BOOTSTRAP
) -> dict | None:
    """Slope of mean log2 η* against log2 x over cells [(x, {seed: log2 η*})], with a seed
    bootstrap interval; None with fewer than two cells."""
    cells = [(x, v) for x, v in cells if v]
    if len(cells) < 2:
        return None
    xs = [x for x, _ in cells]
    point = _slope(xs, [float(np.mean(list(v.values()))) for _, v in cells])
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(bootstrap):
        ys = [float(np.mean(rng.choice(list(v.values()), size=len(v)))) for _, v in cells]
        draws.append(_slope(xs, ys))
    lo, hi = np.percentile(draws, [2.5, 97.5])
    seeds = min(len(v) for _, v in cells)
    return {
        "slope": point,
        "low": float(lo),
        "high": float(hi),
        "cells": len(cells),
        "seeds": seeds,
    }


def summarise(rows: list[dict], bootstrap: int = BOOTSTRAP) -> dict:
    """Per width: η* per cell, slope in T at each B, slope in B at each T and along fixed tokens
    (T·B constant), plus the same pooled over the other variable's values (mean slope)."""
    best, edges = optima(rows)
    widths = sorted({w for w, _, _ in best} | {e[0] for e in edges})
    batches = sorted({b for _, b, _ in best} | {e[1] for e in edges})
    horizons = sorted({t for _, _, t in best} | {e[2] for e in edges})
    table = [
        {
            "width": w,
            "batch": b,
            "horizon": t,
            "log2_lr_mean": float(np.mean(list(v.values()))),
            "log2_lr_std": float(np.std(list(v.values()), ddof=1)) if len(v) > 1 else None,
            "seeds": len(v),
        }
        for (w, b, t), v in sorted(best.items())
    ]
    per_width: dict = {}
    for w in widths:
        in_t = {
            b: slope_with_interval(
                [(t, best.get((w, b, t), {})) for t in horizons], bootstrap=bootstrap
            )
            for b in batches
        }
        in_b = {
            t: slope_with_interval(
                [(b, best.get((w, b, t), {})) for b in batches], bootstrap=bootstrap
            )
            for t in horizons
        }
        tokens = defaultdict(list)
        for b in batches:
            for t in horizons:
                tokens[b * t].append((b, best.get((w, b, t), {})))
        fixed_tokens = {
            k: slope_with_interval(cells, bootstrap=bootstrap)
            for k, cells in sorted(tokens.items())
            if len(cells) >= 2
        }
        per_width[w] = {
            "in_horizon": {b: s for b, s in in_t.items() if s},
            "in_batch": {t: s for t, s in in_b.items() if s},
            "in_batch_fixed_tokens": {k: s for k, s in fixed_tokens.items() if s},
            "pooled": {
                "in_horizon": _pooled(list(in_t.values())),
                "in_batch": _pooled(list(in_b.values())),
                "in_batch_fixed_tokens": _pooled(list(fixed_tokens.values())),
            },
        }
    return {
        "widths": widths,
        "batches": batches,
        "horizons": horizons,
        "optima": table,
        "edges": [list(e) for e in edges],
        "per_width": per_width,
        "across_widths": _across(per_width),
        "in_width": _in_width(best, widths, batches, horizons, bootstrap),
        "method": (__doc__ or "").strip(),
    }


def _in_width(best: dict, widths: list, batches: list, horizons: list, bootstrap: int) -> dict:
    """Per batch: the slope of log2 η* in log2 width at each horizon (μP's transfer says 0; a
    drift per width doubling otherwise), and pooled over the horizons."""
    out: dict = {}
    for b in batches:
        fits = {
            t: slope_with_interval(
                [(w, best.get((w, b, t), {})) for w in widths], bootstrap=bootstrap
            )
            for t in horizons
        }
        found = {t: f for t, f in fits.items() if f}
        if found:
            out[b] = {"per_horizon": found, "pooled": _pooled(list(found.values()))}
    return out


def width_steps(best: dict, widths: list[int], bootstrap: int = BOOTSTRAP, seed: int = 0) -> dict:
    """Where a width drift sits: over every (batch, horizon) cell that ran at all ``widths``, the
    change of seed-mean log2 η* across each consecutive pair of widths, averaged over the cells,
    with a seed bootstrap (each cell resampled independently, as the slopes are).  μP's transfer
    says 0 for every step; a drift carried by the narrowest step alone reads as a small-width
    effect.  ``best``: :func:`optima`'s first value."""
    widths = sorted(widths)
    if len(widths) < 3:
        raise ValueError(f"widths = {widths}; accepted: three or more, to compare their steps")
    cells = sorted({(b, t) for _, b, t in best if all(best.get((w, b, t)) for w in widths)})
    if not cells:
        raise ValueError(f"no (batch, horizon) cell ran at every width of {widths}")

    def steps(means: dict) -> np.ndarray:
        return np.array(
            [
                [means[b, t, hi] - means[b, t, lo] for lo, hi in zip(widths, widths[1:])]
                for b, t in cells
            ]
        ).mean(axis=0)

    values = {(b, t, w): list(best[(w, b, t)].values()) for b, t in cells for w in widths}
    point = steps({k: float(np.mean(v)) for k, v in values.items()})
    rng = np.random.default_rng(seed)
    draws = np.array(
        [
            steps({k: float(np.mean(rng.choice(v, size=len(v)))) for k, v in values.items()})
            for _ in range(bootstrap)
        ]
    )
    lows, highs = np.percentile(draws, [2.5, 97.5], axis=0)
    return {
        "cells": len(cells),
        "steps": [
            {"from": lo, "to": hi, "mean": float(m), "low": float(a), "high": float(b)}
            for (lo, hi), m, a, b in zip(zip(widths, widths[1:]), point, lows, highs)
        ],
    }


def _pooled(fits: list[dict | None]) -> dict | None:
    """Mean of several slopes; interval = mean of their bounds (a conservative summary)."""
    found = [f for f in fits if f]
    if not found:
        return None
    return {
        "slope": float(np.mean([f["slope"] for f in found])),
        "low": float(np.mean([f["low"] for f in found])),
        "high": float(np.mean([f["high"] for f in found])),
        "fits": len(found),
    }


def _across(per_width: dict) -> dict:
    """Do the pooled slopes agree across widths (every pair's intervals overlap)?"""
    out = {}
    for what in ("in_horizon", "in_batch", "in_batch_fixed_tokens"):
        fits = {w: v["pooled"][what] for w, v in per_width.items() if v["pooled"][what]}
        if len(fits) < 2:
            continue
        lows = [f["low"] for f in fits.values()]
        highs = [f["high"] for f in fits.values()]
        slopes = [f["slope"] for f in fits.values()]
        out[what] = {
            "slopes": {w: f["slope"] for w, f in fits.items()},
            "spread": float(max(slopes) - min(slopes)),
            "overlap": bool(max(lows) <= min(highs)),
        }
    return out


def _fmt(fit: dict | None) -> str:
    if not fit:
        return "—"
    return f"{fit['slope']:+.2f} [{fit['low']:+.2f}, {fit['high']:+.2f}]"


def markdown(summary: dict) -> str:
    """The summary as markdown tables: optima, then slopes per width."""
    lines = ["| width | batch | " + " | ".join(f"T={t}" for t in summary["horizons"]) + " |"]
    lines.append("|---" * (2 + len(summary["horizons"])) + "|")
    cells = {(r["width"], r["batch"], r["horizon"]): r for r in summary["optima"]}
    on_edge = {tuple(e[:3]) for e in summary["edges"]}
    for w in summary["widths"]:
        for b in summary["batches"]:
            row = []
            for t in summary["horizons"]:
                r = cells.get((w, b, t))
                if r is not None:
                    row.append(f"{r['log2_lr_mean']:.2f} ± {r['log2_lr_std'] or 0:.2f}")
                else:  # every seed's minimum on the window's edge, or a cell that never ran
                    row.append("edge" if (w, b, t) in on_edge else "—")
            lines.append(f"| {w} | {b} | " + " | ".join(row) + " |")
    lines += [
        "",
        "| width | d log2 η*/d log2 T (fixed B) | d log2 η*/d log2 B (fixed T) | "
        "d log2 η*/d log2 B (fixed tokens) |",
        "|---|---|---|---|",
    ]
    for w, v in summary["per_width"].items():
        p = v["pooled"]
        lines.append(
            f"| {w} | {_fmt(p['in_horizon'])} | {_fmt(p['in_batch'])} | "
            f"{_fmt(p['in_batch_fixed_tokens'])} |"
        )
    if summary["edges"]:
        lines += ["", f"{len(summary['edges'])} cells with the minimum on the LR grid's edge."]
    return "\n".join(lines) + "\n"


def late_training_check(row: dict, last: float = 0.5) -> list[dict]:
    """Per hidden layer of a run recorded with ``record_updates``: the mean relative update
    ||ΔW||/||W|| over the last ``last`` fraction of the recorded steps against the rotational
    equilibrium √(2d) of its per-step decay d (Kosson et al. 2023, arXiv 2305.17212)."""
    updates = np.array(row["relative_updates"], dtype=float)
    if updates.ndim != 2 or len(updates) < 2:
        raise ValueError("the run has fewer than two recorded updates; record_updates=True?")
    # the stable phase only: the decay branch scales the step (and torch's decay) down
    stable_end = min(
        int(t) - max(1, round(row.get("decay_fraction", 0.1) * int(t))) for t in row["horizons"]
    )
    stable = updates[updates[:, 0] <= stable_end]
    if len(stable) < 2:
        stable = updates
    tail = stable[int(len(stable) * (1 - last)) :, 1:]
    out = []
    for i, name in enumerate(row["hidden_layers"]):
        decay = float(row["per_step_decay"][name])
        predicted = math.sqrt(2 * decay)
        measured = float(tail[:, i].mean())
        out.append(
            {
                "layer": name,
                "per_step_decay": decay,
                "predicted": predicted,
                "measured": measured,
                "ratio": measured / predicted if predicted > 0 else float("nan"),
            }
        )
    return out


def late_width_slopes(checks: list[dict]) -> list[dict]:
    """Per (convention, layer) of :func:`late_training_check` rows over widths and seeds: the slope
    in log width of the measured late relative update and of its equilibrium √(2d), judged by the
    coordinate checks' one rule (Kosson et al. 2025, arXiv 2510.19093: is the late update
    width-stable under μP, with each weight-decay convention?)."""
    # local: the checks' fit and rule live in abcparam.coordcheck, whose package imports torch
    from ..coordcheck.fit import slope_with_error
    from ..coordcheck.judge import enough_sizes, unresolved, within

    measured: dict = defaultdict(lambda: defaultdict(list))
    predicted: dict = defaultdict(lambda: defaultdict(list))
    for check in checks:
        for layer in check["layers"]:
            key = (check["convention"], layer["layer"])
            measured[key][check["seed"]].append((check["width"], layer["measured"]))
            predicted[key][check["seed"]].append((check["width"], layer["predicted"]))
    out = []
    for key in sorted(measured):
        widths = sorted({w for points in measured[key].values() for w, _ in points})
        slope, stderr = slope_with_error(measured[key])
        expected, _ = slope_with_error(predicted[key])
        judged = enough_sizes(widths)
        out.append(
            {
                "convention": key[0],
                "layer": key[1],
                "widths": widths,
                "measured": slope,
                "stderr": stderr,
                "predicted": expected,
                "judged": judged,
                "passed": within(slope, expected) if judged else None,
                "unresolved": unresolved(stderr) if judged else None,
            }
        )
    return out
