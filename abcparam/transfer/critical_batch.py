"""The critical batch size at each horizon from saved warmup-stable-decay runs (torch-free).

Steps to a target loss ℓ at batch B, S(B): the first step at which the stable phase's training
loss (the recorded 10-step means, seed-averaged, linearly interpolated) reaches ℓ, minimised over
the LR grid (the LR tuned per batch, as in Shallue et al. 2019, arXiv 1811.03600).  McCandlish et
al. 2018 (arXiv 1812.06162, Eq. 2.11) model S = S_min (1 + B_crit/B): steps fall as 1/B below
B_crit and stop falling above it.  Fitted as the line S = S_min + E_min/B (weights 1/S), so
B_crit = E_min/S_min (sequences) and E_min is the data the target needs at small batch.  Time
Transfer (arXiv 2410.05838) and Power Lines (arXiv 2505.13738) have B_crit grow with the horizon;
the slope of log B_crit against log E_min over the targets measures it.  Intervals: seeds
resampled per (batch, LR) cell.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

BOOTSTRAP = 1000


def curves(rows: list[dict], width: int) -> dict:
    """{(batch, log2 LR): {seed: (steps, losses)}} of the stable phase at ``width``."""
    out: dict = defaultdict(dict)
    for row in rows:
        if row["width"] != width or not row.get("stable_curve"):
            continue
        steps, losses = zip(*row["stable_curve"], strict=True)
        if not all(math.isfinite(x) for x in losses):
            continue
        out[(row["batch"], row["log2_lr"])][row["seed"]] = (np.array(steps), np.array(losses))
    return dict(out)


def steps_to(steps: np.ndarray, losses: np.ndarray, target: float) -> float:
    """The first step at which the loss curve reaches ``target`` (interpolated); inf if never."""
    below = np.nonzero(losses <= target)[0]
    if not len(below):
        return math.inf
    i = int(below[0])
    if i == 0:
        return float(steps[0])
    x0, x1, y0, y1 = steps[i - 1], steps[i], losses[i - 1], losses[i]
    return float(x0 + (x1 - x0) * (y0 - target) / (y0 - y1))


def fastest(cells: dict, target: float, pick: dict | None = None) -> dict[int, tuple[float, float]]:
    """Per batch, (log2 LR, steps) of the LR whose seed-mean curve reaches ``target`` first
    (steps inf when none does).  ``pick``: {(batch, LR): seeds to use} (a bootstrap draw)."""
    out: dict[int, tuple[float, float]] = {}
    for (batch, lr), by_seed in sorted(cells.items()):
        seeds = pick[(batch, lr)] if pick else sorted(by_seed)
        length = min(len(by_seed[s][0]) for s in seeds)
        steps = by_seed[seeds[0]][0][:length]
        mean = np.mean([by_seed[s][1][:length] for s in seeds], axis=0)
        reached = steps_to(steps, mean, target)
        if batch not in out or reached < out[batch][1]:
            out[batch] = (lr, reached)
    return out


def _steps(best: dict[int, tuple[float, float]]) -> dict[int, float]:
    """S(B) from ``fastest``'s answer: the least steps to the target over the LR grid, per batch."""
    return {batch: steps for batch, (_, steps) in best.items()}


def window_edges(cells: dict, best: dict[int, tuple[float, float]]) -> dict[int, str]:
    """The batches whose fastest LR is the lowest or highest of the LRs run there ("lower" or
    "upper"): S(B) there is only an upper bound, as a wider window might reach the target sooner."""
    out: dict[int, str] = {}
    for batch, (lr, steps) in best.items():
        lrs = sorted(r for b, r in cells if b == batch)
        if math.isfinite(steps) and len(lrs) > 1 and lr in (lrs[0], lrs[-1]):
            out[batch] = "upper" if lr == lrs[-1] else "lower"
    return out


def fit_critical(steps_by_batch: dict[int, float]) -> dict | None:
    """S = S_min + E_min/B by least squares in S/S_observed; None below three finite batches or
    when S_min or E_min come out non-positive (no 1/B regime or no plateau in range)."""
    pts = [(b, s) for b, s in sorted(steps_by_batch.items()) if math.isfinite(s)]
    if len(pts) < 3:
        return None
    b, s = np.array(pts, dtype=float).T
    design = np.column_stack([np.ones_like(b), 1 / b]) / s[:, None]
    s_min, e_min = np.linalg.lstsq(design, np.ones_like(s), rcond=None)[0]
    if s_min <= 0 or e_min <= 0:
        return None
    return {"s_min": float(s_min), "e_min": float(e_min), "b_crit": float(e_min / s_min)}


def critical_batch(
    rows: list[dict], targets: list[float], bootstrap: int = BOOTSTRAP, seed: int = 0
) -> dict:
    """Per width: for every target loss, S(B), the LR that reached it first per batch (and the
    batches where that LR is the window's edge), the fit (S_min, E_min, B_crit) and B_crit's 95 %
    seed-bootstrap interval; and the slope of log2 B_crit against log2 E_min over the targets."""
    rng = np.random.default_rng(seed)
    out: dict = {}
    for width in sorted({r["width"] for r in rows}):
        cells = curves(rows, width)
        if not cells:
            continue
        per_target = []
        draws: list[list[dict | None]] = []
        picks = [
            {k: list(rng.choice(sorted(v), size=len(v))) for k, v in cells.items()}
            for _ in range(bootstrap)
        ]
        for target in targets:
            best = fastest(cells, target)
            by_batch = _steps(best)
            fit = fit_critical(by_batch)
            boots = [fit_critical(_steps(fastest(cells, target, p))) for p in picks]
            draws.append(boots)
            good = [d["b_crit"] for d in boots if d]
            entry = {
                "target": target,
                "steps": {str(b): s for b, s in sorted(by_batch.items())},
                "fastest_log2_lr": {str(b): lr for b, (lr, _) in sorted(best.items())},
                "lr_edge": {str(b): side for b, side in sorted(window_edges(cells, best).items())},
                "fit": fit,
                "b_crit_interval": (
                    [float(x) for x in np.percentile(good, [2.5, 97.5])] if good else None
                ),
                "fits_in_bootstrap": len(good),
            }
            per_target.append(entry)
        out[str(width)] = {"targets": per_target, "slope": _slope(per_target, draws)}
    return out


def _slope(per_target: list[dict], draws: list[list[dict | None]]) -> dict | None:
    """Slope of log2 B_crit against log2 E_min over the targets with a fit (and its interval
    over the bootstrap draws that fit every one of those targets)."""
    used = [i for i, e in enumerate(per_target) if e["fit"]]
    if len(used) < 2:
        return None

    def slope(fits: list[dict]) -> float:
        x = np.log2([f["e_min"] for f in fits])
        y = np.log2([f["b_crit"] for f in fits])
        return float(np.polyfit(x, y, 1)[0])

    point = slope([per_target[i]["fit"] for i in used])
    boots = []
    for k in range(len(draws[0])):
        fits = [f for f in (draws[i][k] for i in used) if f]
        if len(fits) == len(used):  # this draw fit every target
            boots.append(slope(fits))
    interval = [float(x) for x in np.percentile(boots, [2.5, 97.5])] if boots else None
    return {"slope": point, "interval": interval, "targets": len(used), "draws": len(boots)}


def critical_markdown(result: dict) -> str:
    """Per width and target: S(B) (starred where the fastest LR is the window's edge), S_min,
    E_min, B_crit [95 %]; then the slope."""
    lines = []
    for width, entry in result.items():
        lines += [
            f"### width {width}",
            "",
            "| target loss | S(B) by batch | S_min | E_min (seq.) | B_crit [95 %] |",
            "|---|---|---|---|---|",
        ]
        for t in entry["targets"]:
            edge = t.get("lr_edge", {})
            steps = ", ".join(
                f"{b}: {s:.0f}{'*' if b in edge else ''}" for b, s in t["steps"].items()
            )
            fit, iv = t["fit"], t["b_crit_interval"]
            if fit is None:
                lines.append(f"| {t['target']:.2f} | {steps} | — | — | — |")
                continue
            text = f"[{iv[0]:.1f}, {iv[1]:.1f}]" if iv else ""
            lines.append(
                f"| {t['target']:.2f} | {steps} | {fit['s_min']:.0f} | {fit['e_min']:.0f} | "
                f"{fit['b_crit']:.1f} {text} |"
            )
        if any(t.get("lr_edge") for t in entry["targets"]):
            lines += [
                "",
                "\\* the fastest LR is the edge of the window run: S(B) is an upper bound there.",
            ]
        s = entry["slope"]
        if s:
            iv = s["interval"]
            text = f" [{iv[0]:+.2f}, {iv[1]:+.2f}]" if iv else ""
            lines += ["", f"slope of log2 B_crit against log2 E_min: {s['slope']:+.2f}{text}"]
        lines.append("")
    return "\n".join(lines)
