"""The optimal AdamW decay λ* per (batch, horizon) cell and its EMA timescale τ_epoch = B/(ηλD)
(Wang & Aitchison 2024, arXiv 2405.13698: τ_epoch roughly constant), from saved decay sweeps
(torch-free: numpy only).

Per (batch, horizon, seed): log2 λ* is the vertex of a parabola through the loss minimum over the
λ grid and its two neighbours (``analysis.optimum_log2_lr`` applied to log2 λ); a minimum on the
grid's edge only bounds λ* and is left out.  D is the number of distinct training samples: one
pass over the data (``train_chars`` 0) gives D = T·B, so log2 τ_epoch = −log2 η − log2 λ − log2 T;
a data-limited run (the text cut to ``train_chars``) gives D = train_chars / context sequences,
seen for T·B/D epochs.  Intervals: 2.5–97.5 % over seed bootstraps.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable

import numpy as np

from .analysis import edge_of, optimum_log2_lr

BOOTSTRAP = 2000


def samples(row: dict, horizon: int) -> float:
    """D of τ_epoch = B/(ηλD): the distinct training sequences a run draws from (its cut text's
    windows), or, with the whole text and at most one pass, the T·B it sees."""
    chars = row.get("train_chars") or 0
    return chars / row.get("context", 32) if chars else float(horizon * row["batch"])


def cell_samples(rows: list[dict]) -> dict:
    """{(batch, horizon): D} over a sweep's runs."""
    return {(row["batch"], int(t)): samples(row, int(t)) for row in rows for t in row["results"]}


def tau_offsets(rows: list[dict]) -> dict:
    """{(batch, horizon): log2 B − log2 η − log2 D}, so log2 τ_epoch = offset − log2 λ."""
    lrs = {(row["batch"], int(t)): row["log2_lr"] for row in rows for t in row["results"]}
    return {
        (b, t): math.log2(b) - lrs[(b, t)] - math.log2(d)
        for (b, t), d in cell_samples(rows).items()
    }


def decay_optima(rows: list[dict]) -> tuple[dict, dict, list]:
    """{(batch, horizon): {seed: log2 λ*}}, {(batch, horizon): log2 η}, and the edge cells
    [(batch, horizon, seed, "low"|"high")]."""
    points: dict = defaultdict(list)
    lrs: dict = {}
    for row in rows:
        for horizon, res in row["results"].items():
            loss = res["val_loss"]
            ok = not res["diverged"] and isinstance(loss, int | float) and math.isfinite(loss)
            cell = (row["batch"], int(horizon))
            lrs[cell] = row["log2_lr"]
            points[cell + (row["seed"],)].append(
                (math.log2(row["weight_decay"]), loss if ok else math.inf)
            )
    out: dict = defaultdict(dict)
    edges = []
    for (b, t, s), pts in sorted(points.items()):
        grid = sorted({x for x, _ in pts})
        edge = edge_of(pts, grid)
        if edge is not None or all(not math.isfinite(y) for _, y in pts):
            edges.append((b, t, s, edge or "all diverged"))
            continue
        out[(b, t)][s] = optimum_log2_lr(pts)
    return dict(out), lrs, edges


def loss_by_wd(rows: list[dict]) -> list[dict]:
    """Per (batch, horizon): the seed-mean validation loss at each log2 λ (diverged: inf)."""
    out = []
    for (b, t), by_seed in sorted(_per_seed_curves(rows).items()):
        by: dict = defaultdict(list)
        for points in by_seed.values():
            for x, loss in points:
                by[x].append(loss)
        out.append(
            {
                "batch": b,
                "horizon": t,
                "log2_wd": sorted(by),
                "loss": [float(np.mean(by[x])) for x in sorted(by)],
                "seeds": [len(by[x]) for x in sorted(by)],
            }
        )
    return out


#: the floor of a flat loss-vs-λ curve: its mean over this many smallest λ of the grid
FLOOR_POINTS = 3


def _per_seed_curves(rows: list[dict]) -> dict:
    """{(batch, horizon): {seed: [(log2 λ, loss)] sorted}} (a diverged point: inf)."""
    curves: dict = defaultdict(lambda: defaultdict(list))
    for row in rows:
        for horizon, res in row["results"].items():
            loss = math.inf if res["diverged"] else res["val_loss"]
            curves[(row["batch"], int(horizon))][row["seed"]].append(
                (math.log2(row["weight_decay"]), loss)
            )
    return {cell: {s: sorted(pts) for s, pts in by.items()} for cell, by in curves.items()}


def damage_onset(points: list[tuple[float, float]], rise: float) -> float | None:
    """The log2 λ at which one seed's loss first exceeds its small-λ floor (the mean over the
    FLOOR_POINTS smallest λ) by ``rise`` nats, linear in log2 λ between grid points; None if it
    never does on the grid or the floor is not flat (a point beyond the floor already higher)."""
    if len(points) <= FLOOR_POINTS:
        return None
    floor = float(np.mean([y for _, y in points[:FLOOR_POINTS]]))
    level = floor + rise
    if any(y > level for _, y in points[:FLOOR_POINTS]):
        return None
    for (x0, y0), (x1, y1) in zip(points[FLOOR_POINTS - 1 :], points[FLOOR_POINTS:], strict=False):
        if y1 > level:
            if not math.isfinite(y1):
                return x1
            return x0 + (x1 - x0) * (level - y0) / (y1 - y0)
    return None


def damage_onsets(rows: list[dict], rise: float, bootstrap: int = BOOTSTRAP, seed: int = 0) -> dict:
    """Where decay starts to cost loss, when no λ helps: per (batch, horizon) the log2 λ at which
    the loss rises ``rise`` nats above its small-λ floor (mean, 95 % seed-bootstrap interval),
    and its slope in log2 T and in log2 B (pooled, an intercept per level of the other).  The
    EMA timescale rule (τ = 1/(ηλT) fixed) says −1 in log2 T; a per-step threshold in ηλ, 0."""
    rng = np.random.default_rng(seed)
    onsets: dict = {}
    cells = []
    for (b, t), by_seed in sorted(_per_seed_curves(rows).items()):
        found = {s: damage_onset(pts, rise) for s, pts in by_seed.items()}
        values = {s: v for s, v in found.items() if v is not None}
        if not values:
            continue
        onsets[(b, t)] = values
        xs = list(values.values())
        cells.append(
            {
                "batch": b,
                "horizon": t,
                "seeds": len(xs),
                "log2_wd": float(np.mean(xs)),
                "log2_wd_interval": _interval(xs, rng, bootstrap) if len(xs) > 1 else None,
            }
        )
    return {
        "rise": rise,
        "floor_points": FLOOR_POINTS,
        "cells": cells,
        "slope_vs_horizon": _slope_fit(onsets, {}, "horizon", rng, bootstrap, tau=False),
        "slope_vs_batch": _slope_fit(onsets, {}, "batch", rng, bootstrap, tau=False),
    }


def _interval(values: list[float], rng: np.random.Generator, bootstrap: int) -> tuple:
    draws = [float(np.mean(rng.choice(values, size=len(values)))) for _ in range(bootstrap)]
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return float(lo), float(hi)


def timescale_summary(
    rows: list[dict],
    predict: Callable[[dict, dict], float] | None = None,
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
    base: tuple[int, int] | None = None,
    min_gain: float = 0.0,
) -> dict:
    """Per cell: log2 λ* and log2 τ_epoch* (mean, 95 % interval, seeds); the slopes of log2 τ*
    and log2 λ* against log2 T and log2 B (interval: cells resampled by seed); and, when
    ``predict(base, target) -> λ_target / λ_base`` is given (the calculator), each cell's λ*
    predicted from the ``base`` (batch, horizon) cell (default: the first, smallest batch and
    shortest horizon) and whether it lies inside the measured interval.  ``gain``: how much the
    best λ lowers the cell's seed-mean loss below the grid's smallest λ (0: decay never helps,
    and a vertex there sits on a flat stretch); cells that gain less than ``min_gain`` nats are
    left out of the cells and slopes and listed under ``flat``."""
    best, lrs, edges = decay_optima(rows)
    offsets, data_of = tau_offsets(rows), cell_samples(rows)
    rng = np.random.default_rng(seed)
    by_wd = loss_by_wd(rows)
    gains = {(c["batch"], c["horizon"]): c["loss"][0] - min(c["loss"]) for c in by_wd}
    flat = sorted(cell for cell in best if gains[cell] < min_gain)
    best = {cell: by_seed for cell, by_seed in best.items() if cell not in flat}
    cells = []
    for (b, t), by_seed in sorted(best.items()):
        lam = list(by_seed.values())
        log2_eta = lrs[(b, t)]
        tau = [offsets[(b, t)] - x for x in lam]
        data = data_of[(b, t)]
        cells.append(
            {
                "batch": b,
                "horizon": t,
                "log2_lr": log2_eta,
                "samples": data,
                "epochs": t * b / data,
                "gain": gains[(b, t)],
                "seeds": len(lam),
                "log2_wd": float(np.mean(lam)),
                "log2_wd_interval": _interval(lam, rng, bootstrap) if len(lam) > 1 else None,
                "log2_wd_std": float(np.std(lam, ddof=1)) if len(lam) > 1 else None,
                "log2_tau_epoch": float(np.mean(tau)),
                "log2_tau_interval": _interval(tau, rng, bootstrap) if len(tau) > 1 else None,
            }
        )
    slopes = {}
    for name, key in (("tau_vs_horizon", "horizon"), ("tau_vs_batch", "batch")):
        slopes[name] = _slope_fit(best, offsets, key, rng, bootstrap, tau=True)
    for name, key in (("wd_vs_horizon", "horizon"), ("wd_vs_batch", "batch")):
        slopes[name] = _slope_fit(best, offsets, key, rng, bootstrap, tau=False)
    out: dict = {
        "cells": cells,
        "slopes": slopes,
        "edges": [list(e) for e in edges],
        "min_gain": min_gain,
        "flat": [list(cell) for cell in flat],
        "loss_by_wd": by_wd,
    }
    if predict is not None and cells:
        if base is None:
            base_cell = cells[0]
        else:
            found = [c for c in cells if (c["batch"], c["horizon"]) == tuple(base)]
            if not found:
                accepted = ", ".join(f"({c['batch']}, {c['horizon']})" for c in cells)
                raise ValueError(f"base = {base}: accepted: a cell with a λ*: {accepted}")
            base_cell = found[0]
        base = (base_cell["batch"], base_cell["horizon"])
        for cell in cells:
            ratio = predict(
                {key: base_cell[key] for key in ("batch", "horizon", "log2_lr", "samples")},
                {key: cell[key] for key in ("batch", "horizon", "log2_lr", "samples")},
            )
            predicted = base_cell["log2_wd"] + math.log2(ratio)
            interval = cell["log2_wd_interval"]
            cell["predicted_log2_wd"] = predicted
            cell["predicted_inside"] = (
                None if interval is None else bool(interval[0] <= predicted <= interval[1])
            )
        out["prediction_base"] = {"batch": base[0], "horizon": base[1]}
    return out


def _slope_fit(
    best: dict, offsets: dict, key: str, rng: np.random.Generator, bootstrap: int, tau: bool
) -> dict | None:
    """Slope of log2 λ* (or log2 τ* = offset − log2 λ*, ``offsets`` from ``tau_offsets``)
    against log2 of ``key``, pooled over the other variable as one least-squares fit with a
    separate intercept per level of it."""
    groups: dict = defaultdict(list)
    for (b, t), by_seed in best.items():
        x, other = (t, b) if key == "horizon" else (b, t)
        shift = offsets[(b, t)] if tau else 0.0
        sign = -1.0 if tau else 1.0
        groups[other].append((math.log2(x), [sign * v + shift for v in by_seed.values()]))
    groups = {k: v for k, v in groups.items() if len(v) >= 2}
    return _pooled_slope(groups, rng, bootstrap) if groups else None


def _pooled_slope(groups: dict, rng: np.random.Generator, bootstrap: int) -> dict:
    """One least-squares slope of y against x over ``groups`` ({level: [(x, seed values)]}),
    with a separate intercept per level; y is the mean of a point's seed values, resampled per
    point for the 95 % bootstrap interval."""
    levels = sorted(groups)

    def fit(sample: bool) -> float:
        xs, ys, dummies = [], [], []
        for j, level in enumerate(levels):
            for x, values in groups[level]:
                vals = rng.choice(values, size=len(values)) if sample else values
                xs.append(x)
                ys.append(float(np.mean(vals)))
                dummies.append([1.0 if i == j else 0.0 for i in range(len(levels))])
        design = np.column_stack([xs, np.array(dummies)])
        return float(np.linalg.lstsq(design, np.array(ys), rcond=None)[0][0])

    point = fit(False)
    draws = [fit(True) for _ in range(bootstrap)]
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return {"slope": point, "low": float(lo), "high": float(hi)}


def timescale_markdown(summary: dict) -> str:
    """The per-cell table and the slopes, as markdown."""

    def iv(pair) -> str:
        return "—" if pair is None else f"[{pair[0]:+.2f}, {pair[1]:+.2f}]"

    def num(value, spec: str) -> str:  # summaries saved before a field existed: "—"
        return "—" if value is None else format(value, spec)

    lines = [
        "| batch | horizon | epochs | log2 η | gain (nats) | log2 λ* [95 %] "
        "| log2 τ_epoch* [95 %] | predicted log2 λ* | inside |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in summary["cells"]:
        pred = c.get("predicted_log2_wd")
        lines.append(
            f"| {c['batch']} | {c['horizon']} | {num(c.get('epochs'), '.3g')} "
            f"| {c['log2_lr']:+.2f} | {num(c.get('gain'), '.3f')} | {c['log2_wd']:+.2f} "
            f"{iv(c['log2_wd_interval'])} | {c['log2_tau_epoch']:+.2f} "
            f"{iv(c['log2_tau_interval'])} | {'—' if pred is None else f'{pred:+.2f}'} | "
            f"{c.get('predicted_inside', '—')} |"
        )
    lines += ["", "| slope | value [95 %] |", "|---|---|"]
    for name, fit in summary["slopes"].items():
        text = (
            "—" if fit is None else f"{fit['slope']:+.2f} [{fit['low']:+.2f}, {fit['high']:+.2f}]"
        )
        lines.append(f"| {name} | {text} |")
    if summary["edges"]:
        sides = sorted({str(e[3]) for e in summary["edges"]})
        lines += [
            "",
            f"{len(summary['edges'])} (batch, horizon, seed) minima on the λ grid's edge "
            f"({', '.join(sides)}): left out above.",
        ]
    if summary.get("flat"):
        cells = ", ".join(f"B {b} T {t}" for b, t in summary["flat"])
        lines += [
            "",
            f"Left out, decay lowering their loss by less than {summary['min_gain']:g} nats "
            f"(no optimum to fit): {cells}.",
        ]
    for onset in summary.get("damage_onsets", []):
        cells = ", ".join(
            f"B {c['batch']} T {c['horizon']}: {c['log2_wd']:+.2f}" for c in onset["cells"]
        )
        fits = ", ".join(
            f"{name} {fit['slope']:+.2f} [{fit['low']:+.2f}, {fit['high']:+.2f}]"
            for name in ("slope_vs_horizon", "slope_vs_batch")
            if (fit := onset[name]) is not None
        )
        lines += [
            "",
            f"log2 λ where the loss first rises {onset['rise']:g} nats above its small-λ floor: "
            f"{cells or 'nowhere on the grid'}; {fits or 'no slope'}.",
        ]
    lines += ["", "Seed-mean validation loss at each log2 λ:", ""]
    for c in summary.get("loss_by_wd", []):
        pairs = ", ".join(f"{x:+g}: {y:.3f}" for x, y in zip(c["log2_wd"], c["loss"], strict=True))
        lines.append(f"- batch {c['batch']}, T = {c['horizon']}: {pairs}")
    return "\n".join(lines) + "\n"


def optimum_shift(
    rows_a: list[dict],
    rows_b: list[dict],
    pairs: list[tuple[tuple[int, int], tuple[int, int]]],
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
) -> dict:
    """How λ* and τ_epoch* move from sweep a to sweep b (say the text doubled at equal epochs):
    the mean over ``pairs`` of ((batch, horizon) of a, (batch, horizon) of b) of the seed-mean
    log2 λ* of b minus a's, and the same for log2 τ_epoch*, with 95 % intervals from each cell's
    seeds resampled apart.  Wang & Aitchison's rule (τ_epoch fixed) says τ moves 0 and λ moves
    −log2(D_b/D_a); a fixed per-step decay ηλ says λ moves 0."""
    return pooled_optimum_shift([(rows_a, rows_b, pairs)], bootstrap, seed)


def pooled_optimum_shift(
    couples: list[tuple[list[dict], list[dict], list[tuple[tuple[int, int], tuple[int, int]]]]],
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
) -> dict:
    """:func:`optimum_shift` averaged over several (sweep a, sweep b, pairs) couples, say the text
    doubled at two widths or from two sizes: one mean over every pair, every cell's seeds
    resampled apart for the 95 % interval."""
    cells = []
    for rows_a, rows_b, pairs in couples:
        (best_a, _, _), (best_b, _, _) = decay_optima(rows_a), decay_optima(rows_b)
        off_a, off_b = tau_offsets(rows_a), tau_offsets(rows_b)
        missing = [p for p in pairs if p[0] not in best_a or p[1] not in best_b]
        if missing:
            raise ValueError(f"pairs {missing}: accepted: cells with an interior λ* in both sweeps")
        for a, b in pairs:
            tau_offset = off_b[b] - off_a[a]
            cells.append((list(best_a[a].values()), list(best_b[b].values()), tau_offset))
    rng = np.random.default_rng(seed)

    def shift(sample: bool) -> tuple[float, float]:
        lam, tau = [], []
        for xa, xb, tau_offset in cells:
            if sample:
                xa, xb = list(rng.choice(xa, size=len(xa))), list(rng.choice(xb, size=len(xb)))
            d = float(np.mean(xb) - np.mean(xa))
            lam.append(d)
            tau.append(tau_offset - d)
        return float(np.mean(lam)), float(np.mean(tau))

    point = shift(False)
    draws = np.array([shift(True) for _ in range(bootstrap)])
    out: dict = {
        "pairs": [[list(a), list(b)] for _, _, pairs in couples for a, b in pairs],
    }
    for i, name in enumerate(("wd_shift", "tau_shift")):
        lo, hi = np.percentile(draws[:, i], [2.5, 97.5])
        out[name] = {"value": point[i], "low": float(lo), "high": float(hi)}
    return out


def width_slope(
    sweeps: dict[int, list[dict]],
    cells: list[tuple[int, int]],
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
) -> dict:
    """Slope of log2 λ* in log2 width over decay sweeps at several widths (``sweeps``: width →
    runs), pooled over the (batch, horizon) ``cells`` with an intercept per cell, and per cell;
    95 % intervals with each (width, cell)'s seeds resampled.  0 when the scheme's width rule
    for λ (here μP's, from the engine) keeps λ* where the base width put it."""
    if len(sweeps) < 3:
        raise ValueError(f"widths {sorted(sweeps)}: accepted: at least 3 widths for a slope")
    best = {math.log2(w): decay_optima(rows)[0] for w, rows in sweeps.items()}
    fit = _slope_across(best, cells, "width", bootstrap, seed, shown=lambda x: round(2**x))
    return {"widths": sorted(sweeps), **fit}


def lr_slope(
    rows: list[dict],
    cells: list[tuple[int, int]],
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
) -> dict:
    """Slope of log2 λ* in log2 η at fixed (batch, horizon, data): the runs of decay sweeps at
    three or more peak LRs per cell, pooled over ``cells`` (an intercept per cell) and per cell.
    Which λ the optimum holds when η moves: −1 keeps the per-step decay ηλ, so the EMA timescale
    1/(ηλ) (Wang & Aitchison 2024, arXiv 2405.13698), and the independent convention's λ; 0
    keeps λ itself; +1 keeps η/λ, which sets the norm AdamW's weights settle at (their
    squared norm balances 2ηλ‖W‖² lost to decay against η²‖u‖² gained per step)."""
    by_lr: dict[float, list[dict]] = defaultdict(list)
    for row in rows:
        by_lr[float(row["log2_lr"])].append(row)

    def swept_at(batch: int) -> list[float]:
        return sorted(x for x, found in by_lr.items() if any(r["batch"] == batch for r in found))

    for b, t in cells:
        if len(swept_at(b)) < 3:
            raise ValueError(
                f"cell ({b}, {t}) has log2 η {swept_at(b)}: accepted: at least 3 LRs for a slope"
            )
    best = {x: decay_optima(found)[0] for x, found in by_lr.items()}
    fit = _slope_across(best, cells, "log2 η", bootstrap, seed, lambda c: swept_at(c[0]))
    return {"log2_lrs": {f"{b},{t}": swept_at(b) for b, t in cells}, **fit}


def _slope_across(
    best: dict[float, dict],
    cells: list[tuple[int, int]],
    what: str,
    bootstrap: int,
    seed: int,
    xs_of: Callable[[tuple[int, int]], list[float]] | None = None,
    shown: Callable[[float], object] = lambda x: x,
) -> dict:
    """The slope of log2 λ* in x over sweeps (``best``: x → ``decay_optima``'s first value),
    pooled over ``cells`` with an intercept per cell and per cell; x is log2 width or log2 η,
    ``xs_of(cell)`` the sweeps that ran the cell (default: all), ``shown(x)`` x as errors name it."""
    xs_of = xs_of or (lambda cell: sorted(best))
    missing = [(shown(x), c) for c in cells for x in xs_of(c) if c not in best[x]]
    if missing:
        raise ValueError(
            f"({what}, cell) {missing}: accepted: cells with an interior λ* in every sweep"
        )

    def with_interval(chosen: list[tuple[int, int]]) -> dict:
        # a fresh generator per fit: a cell's interval does not depend on the fits made before it
        groups = {
            j: [(x, list(best[x][cell].values())) for x in xs_of(cell)]
            for j, cell in enumerate(chosen)
        }
        return _pooled_slope(groups, np.random.default_rng(seed), bootstrap)

    return {
        "pooled": with_interval(list(cells)),
        "per_cell": {f"{b},{t}": with_interval([(b, t)]) for b, t in cells},
    }
