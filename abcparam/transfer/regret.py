"""Sweeps that resolve what they claim: one optimum estimator, bootstrap intervals over seeds,
an adaptive LR grid, and transfer regret (the cost of tuning at the base size only).

- The optimum (the one estimator used for every sweep): a least-squares parabola in log2 LR fitted
  to the SEED-MEAN final loss at the grid points within ``WINDOW`` (1) of its argmin; its vertex,
  clipped to that window.  Fewer than 3 finite points there, or no upward curvature: the argmin.
  An argmin on the grid's edge only bounds the optimum: flagged, kept out of the drift.  A run
  that diverged (:func:`~abcparam.transfer.analysis.is_diverged`) makes its LR's seed mean
  infinite: that LR is unusable.
- Drift: least-squares slope of log2 lr* against log2 size (width or depth) over the sizes with an
  interior optimum; per doubling of the size (muTransfer, TP-V, says ~0 under muP).
- Transfer regret at a target size: the seed-mean loss there at the LR tuned at the base (the
  smallest) size, read off the target's curve by linear interpolation in log2 LR, minus the best
  seed-mean loss on the target's grid.  Zero when the optimum transfers; it weighs a drift by how
  much loss it costs, which a drift alone cannot say.
- Intervals: 95 % percentile bootstrap over seeds (the seeds resampled with replacement, jointly
  across sizes; every statistic recomputed per replicate).  With S seeds there are only
  C(2S-1, S) distinct resamples (10 for S = 3): the interval is coarse, never tighter than the
  seeds' spread allows.
- The adaptive grid (:func:`refine`): extend a coarse grid by one coarse step past an edge argmin,
  then fill the 0.25-log2 lattice within the window around the argmin.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from .analysis import is_diverged

#: half-width (log2 LR) of the fit window around the seed-mean argmin
WINDOW = 1.0
#: the adaptive grid's finest spacing (log2 LR)
RESOLUTION = 0.25
#: bootstrap replicates and the interval's coverage
REPLICATES = 2000
COVERAGE = 0.95
LOW, HIGH = "low", "high"


@dataclass(frozen=True)
class Optimum:
    """An estimated optimum log2 LR: ``value``; ``edge`` "low"/"high" when the argmin sits on
    the grid's edge (``value`` is then a bound); ``method`` "parabola" or "argmin"."""

    value: float
    edge: str | None
    method: str


def estimate_optimum(lrs, losses, window: float = WINDOW) -> Optimum:
    """The module's one optimum estimator (see the module docstring) on a seed-mean curve."""
    x, y = np.asarray(lrs, float), np.asarray(losses, float)
    order = np.argsort(x)
    x, y = x[order], y[order]
    ok = np.isfinite(y)
    if not ok.any():
        return Optimum(math.nan, None, "none")
    i = int(np.flatnonzero(ok)[np.argmin(y[ok])])
    best = float(x[i])
    if best == x.min():
        return Optimum(best, LOW, "argmin")
    if best == x.max():
        return Optimum(best, HIGH, "argmin")
    near = ok & (np.abs(x - best) <= window + 1e-9)
    if near.sum() < 3:
        return Optimum(best, None, "argmin")
    a, b, _ = np.polyfit(x[near], y[near], 2)
    if a <= 0:
        return Optimum(best, None, "argmin")
    lo, hi = x[near].min(), x[near].max()
    return Optimum(float(np.clip(-b / (2 * a), lo, hi)), None, "parabola")


def loss_at(lrs, losses, x: float) -> float:
    """The curve's loss at log2 LR ``x``: linear interpolation between the grid points around it
    (inf if ``x`` lies off the grid or next to an unusable LR)."""
    xs, ys = np.asarray(lrs, float), np.asarray(losses, float)
    order = np.argsort(xs)
    xs, ys = xs[order], ys[order]
    if not xs[0] - 1e-9 <= x <= xs[-1] + 1e-9:
        return math.inf
    j = int(np.searchsorted(xs, x))
    if j < len(xs) and abs(xs[j] - x) < 1e-9:
        return float(ys[j]) if np.isfinite(ys[j]) else math.inf
    lo, hi = ys[j - 1], ys[j]
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return math.inf
    t = (x - xs[j - 1]) / (xs[j] - xs[j - 1])
    return float(lo + t * (hi - lo))


def _lattice(center: float, half: float, resolution: float) -> np.ndarray:
    n = round(half / resolution)
    return round(center / resolution) * resolution + resolution * np.arange(-n, n + 1)


def refine(
    lrs,
    losses,
    resolution: float = RESOLUTION,
    window: float = WINDOW,
    step: float = 1.0,
    around: tuple[float, ...] = (),
) -> list[float]:
    """New log2 LRs to run on one size's curve: one ``step`` past an edge argmin, else the
    ``resolution`` lattice within ``window`` of the argmin, and within ``window / 2`` of each
    LR in ``around`` (the base size's optimum, where the regret reads this curve), that are not
    yet on the grid ([] when the curve is resolved)."""
    x, y = np.asarray(lrs, float), np.asarray(losses, float)
    ok = np.isfinite(y)
    if not ok.any():
        return []
    best = float(x[ok][np.argmin(y[ok])])
    if best == x.min():
        return [best - step]
    if best == x.max():
        return [best + step]
    wanted = [_lattice(best, window, resolution)]
    wanted += [_lattice(c, window / 2, resolution) for c in around if math.isfinite(c)]
    have = {round(v / resolution) for v in x if abs(v / resolution - round(v / resolution)) < 1e-6}
    new = {round(v / resolution) for w in wanted for v in w} - have
    return sorted(float(n * resolution) for n in new)


# -- per-sweep analysis ---------------------------------------------------------------------------


def _cells(rows: list[dict], vary: str):
    """{scheme: {size: {seed: {log2_lr: loss (inf if unusable)}}}}."""
    out: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    for r in rows:
        loss = math.inf if is_diverged(r) else float(r["val_loss"])
        out[r["scheme"]][r[vary]][r["seed"]][float(r["log2_lr"])] = loss
    return out


def _curve(by_seed: dict, seeds) -> tuple[np.ndarray, np.ndarray]:
    """Seed-mean loss over the LRs every chosen seed ran (inf where one is unusable)."""
    lrs = sorted(set.intersection(*(set(by_seed[s]) for s in set(seeds))))
    losses = np.array([np.mean([by_seed[s][lr] for s in seeds]) for lr in lrs])
    return np.array(lrs), losses


def _statistics(sizes_curves: dict, base) -> dict:
    """Optima, drift and regret from one set of seed-mean curves {size: (lrs, losses)}."""
    optima = {s: estimate_optimum(*c) for s, c in sizes_curves.items()}
    xs = [math.log2(s) for s, o in optima.items() if o.edge is None and math.isfinite(o.value)]
    ys = [o.value for o in optima.values() if o.edge is None and math.isfinite(o.value)]
    drift = float(np.polyfit(xs, ys, 1)[0]) if len(set(xs)) >= 2 else math.nan
    tuned = optima[base].value
    regret = {}
    for s, (lrs, losses) in sizes_curves.items():
        finite = losses[np.isfinite(losses)]
        best = float(finite.min()) if finite.size else math.nan
        regret[s] = loss_at(lrs, losses, tuned) - best if math.isfinite(tuned) else math.nan
    return {"optima": optima, "drift": drift, "regret": regret}


def _interval(values: list[float]) -> tuple[float, float] | None:
    v = np.asarray([x for x in values if np.isfinite(x)])
    if v.size == 0:
        return None
    tail = (1 - COVERAGE) / 2 * 100
    return float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail))


def analyse(
    rows: list[dict],
    vary: str = "width",
    base: int | None = None,
    replicates: int = REPLICATES,
    seed: int = 0,
) -> dict:
    """Per scheme: ``sizes``, ``seeds``, ``base``; per size the optimum (value, interval,
    edge, method), the drift per doubling (value, interval) and the transfer regret per target
    size (value, interval, and the fraction of replicates where the tuned LR was unusable there).
    ``base`` defaults to the smallest size."""
    if vary not in ("width", "depth"):
        raise ValueError(f"vary = {vary!r}; accepted: width, depth")
    rng = np.random.default_rng(seed)
    out: dict[str, dict] = {}
    for scheme, by_size in _cells(rows, vary).items():
        sizes = sorted(by_size)
        seeds = sorted(set.intersection(*(set(by_size[s]) for s in sizes)))
        if not seeds:
            out[scheme] = {"flags": [f"{scheme}: no seed ran at every {vary}"]}
            continue
        b = base if base is not None else sizes[0]
        if b not in by_size:
            raise ValueError(f"base {vary} {b} not in the sweep; accepted: {sizes}")
        point = _statistics({s: _curve(by_size[s], seeds) for s in sizes}, b)
        boots = []
        for _ in range(replicates):
            pick = list(rng.choice(seeds, size=len(seeds), replace=True))
            boots.append(_statistics({s: _curve(by_size[s], pick) for s in sizes}, b))
        flags: list[str] = []
        optimum: dict[int, dict] = {}
        for s in sizes:
            o = point["optima"][s]
            optimum[s] = {
                "value": o.value,
                "interval": _interval([bt["optima"][s].value for bt in boots]),
                "edge": o.edge,
                "method": o.method,
                "grid_step": _step_near(_curve(by_size[s], seeds)[0], o.value),
            }
            if o.edge:
                flags.append(
                    f"{scheme} {vary} {s}: best LR on the {o.edge} edge of the grid "
                    f"(log2 lr* {'≤' if o.edge == LOW else '≥'} {o.value:g}); left out of the drift"
                )
        regret: dict[int, dict] = {}
        for s in sizes:
            if s == b:
                continue
            reps = [bt["regret"][s] for bt in boots]
            losses = _curve(by_size[s], seeds)[1]
            finite = losses[np.isfinite(losses)]
            regret[s] = {
                "value": point["regret"][s],
                "interval": _interval(reps),
                "unusable_fraction": float(np.mean([not np.isfinite(r) for r in reps])),
                "best_loss": float(finite.min()) if finite.size else math.nan,
            }
        out[scheme] = {
            "vary": vary,
            "sizes": sizes,
            "seeds": len(seeds),
            "base": b,
            "optimum": optimum,
            "drift": {
                "value": point["drift"],
                "interval": _interval([bt["drift"] for bt in boots]),
            },
            "regret": regret,
            "flags": flags,
        }
    return out


def _step_near(lrs: np.ndarray, x: float) -> float:
    """The grid spacing at ``x``: the gap between its nearest grid points (resolution check)."""
    if not math.isfinite(x) or len(lrs) < 2:
        return math.nan
    gaps = np.diff(np.sort(lrs))
    j = int(np.clip(np.searchsorted(np.sort(lrs), x), 1, len(lrs) - 1))
    return float(gaps[j - 1])


def _fmt(v: float, iv, sign: bool = True) -> str:
    if v is None or not math.isfinite(v):
        return "unusable" if v == math.inf else "—"
    head = f"{v:+.2f}" if sign else f"{v:.3f}"
    if iv is None:
        return head
    return f"{head} [{iv[0]:+.2f}, {iv[1]:+.2f}]" if sign else f"{head} [{iv[0]:.3f}, {iv[1]:.3f}]"


def table(result: dict) -> str:
    """Markdown: per scheme the transfer regret at the largest size (first: the number that says
    what tuning at the base size costs), the drift per doubling, then lr* per size; every value
    with its 95 % bootstrap interval over seeds."""
    lines = [
        f"- {scheme}: " + "; ".join(r.get("flags", []))
        for scheme, r in result.items()
        if "sizes" not in r
    ]
    sizes = sorted({s for r in result.values() for s in r.get("sizes", [])})
    vary = next((r["vary"] for r in result.values() if "vary" in r), "width")
    top = max(sizes) if sizes else None
    head = (
        f"| scheme | transfer regret @ {top} | drift per {vary} doubling | "
        + " | ".join(f"log2 lr* @ {s}" for s in sizes)
        + " | seeds |"
    )
    body = [head, "|" + "---|" * (len(sizes) + 4)]
    flags = []
    for scheme, r in result.items():
        if "sizes" not in r:
            continue
        reg = r["regret"].get(top)
        reg_text = "—" if reg is None else _fmt(reg["value"], reg["interval"], sign=False)
        cells = []
        for s in sizes:
            o = r["optimum"].get(s)
            if o is None:
                cells.append("—")
            elif o["edge"]:
                cells.append(f"{'≤' if o['edge'] == LOW else '≥'} {o['value']:+.2f}")
            else:
                cells.append(_fmt(o["value"], o["interval"]))
        body.append(
            f"| {scheme} | {reg_text} | {_fmt(r['drift']['value'], r['drift']['interval'])} | "
            + " | ".join(cells)
            + f" | {r['seeds']} |"
        )
        flags += r["flags"]
    return "\n".join(lines + body + ([""] + [f"- flag: {f}" for f in flags] if flags else []))
