"""Measured instability onsets from traced sweep runs: per (scheme, width, variant) the largest
attention logit and log Z reached at each learning rate, and the smallest learning rate whose
largest attention logit exceeds a threshold (Wortsman et al. 2023's attention-logit growth)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

#: a logit this large makes the attention over a 32-token context nearly one-hot (e^20 ≫ 32)
LOGIT_THRESHOLD = 20.0


def _final(trace: dict, name: str) -> float:
    values = [v for v in trace.get(name, []) if v is not None and math.isfinite(v)]
    return float(max(np.abs(values))) if values else math.inf


def _run_logit(row: dict) -> float:
    """A traced run's largest attention logit; a run that stopped non-finite counts as unbounded."""
    if row.get("diverged_reason") == "non-finite training loss":
        return math.inf
    return _final(row["trace"], "max_attention_logit")


def logit_table(rows: Iterable[dict], group: Sequence[str] = ("scheme", "width")) -> dict:
    """{group key: {log2_lr: {"max_attention_logit": mean over seeds of the run's largest,
    "log_z": mean of the final mean log Z, "seeds": n}}}; a run that stopped non-finite counts as
    an unbounded logit."""
    acc: dict[tuple, dict[float, list[tuple[float, float]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for row in rows:
        trace = row.get("trace")
        if not trace:
            continue
        logit = _run_logit(row)
        zs = [v for v in trace.get("log_z", []) if v is not None and math.isfinite(v)]
        acc[tuple(row.get(g) for g in group)][row["log2_lr"]].append(
            (logit, zs[-1] if zs else math.nan)
        )
    return {
        key: {
            lr: {
                "max_attention_logit": float(np.mean([p[0] for p in pts])),
                "log_z": float(np.mean([p[1] for p in pts])),
                "seeds": len(pts),
            }
            for lr, pts in sorted(lrs.items())
        }
        for key, lrs in acc.items()
    }


def measured_onset(curve: dict[float, dict], threshold: float = LOGIT_THRESHOLD) -> float | None:
    """The smallest log2 LR whose mean largest attention logit exceeds ``threshold`` (None: no
    learning rate of the grid reaches it)."""
    for lr in sorted(curve):
        if curve[lr]["max_attention_logit"] > threshold:
            return lr
    return None


def seed_curves(rows: Iterable[dict], group: Sequence[str] = ("scheme", "width")) -> dict:
    """{group key: {seed: {log2_lr: the run's largest attention logit}}} (a run that stopped
    non-finite counts as an unbounded logit)."""
    out: dict[tuple, dict[int, dict[float, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        if not row.get("trace"):
            continue
        logit = _run_logit(row)
        out[tuple(row.get(g) for g in group)][row["seed"]][row["log2_lr"]] = logit
    return {k: {s: dict(sorted(c.items())) for s, c in v.items()} for k, v in out.items()}


def interpolated_onset(curve: dict[float, float], rise: float = LOGIT_THRESHOLD) -> float | None:
    """The log2 LR at which the largest attention logit has risen by ``rise`` above its value at
    the grid's smallest LR (the moved part ``z`` of the derivation's A5, not the logit at
    initialisation, which differs across widths and schemes), interpolated linearly in
    log(logit) between the two grid points that bracket it; None when no grid LR reaches it."""
    lrs = sorted(curve)
    level = curve[lrs[0]] + rise
    for lo, hi in zip(lrs, lrs[1:], strict=False):
        a, b = curve[lo], curve[hi]
        if b >= level:
            if not math.isfinite(b) or a <= 0:
                return hi
            f = (math.log(level) - math.log(a)) / (math.log(b) - math.log(a))
            return lo + f * (hi - lo)
    return None


def onset_exponent(
    onsets: dict[int, dict[int, float | None]], bootstrap: int = 2000, seed: int = 0
) -> dict:
    """The measured width exponent ``e`` of the onset LR (``eta* ∝ n^e``): the least-squares slope
    of the per-seed onset log2 LRs against log2 width, with a 90 % interval from resampling the
    seeds at each width (``onsets``: {width: {seed: onset log2 LR}})."""
    widths = sorted(w for w, per in onsets.items() if any(v is not None for v in per.values()))
    if len(widths) < 2:
        return {"exponent": None, "interval": None, "widths": widths}
    points = {w: [v for v in onsets[w].values() if v is not None] for w in widths}

    def slope(sample: dict[int, list[float]]) -> float:
        x = np.concatenate([[math.log2(w)] * len(v) for w, v in sample.items()])
        y = np.concatenate([v for v in sample.values()])
        return float(np.polyfit(x, y, 1)[0])

    rng = np.random.default_rng(seed)
    draws = [
        slope({w: list(rng.choice(v, size=len(v), replace=True)) for w, v in points.items()})
        for _ in range(bootstrap)
    ]
    lo, hi = np.percentile(draws, [5, 95])
    return {
        "exponent": slope(points),
        "interval": [float(lo), float(hi)],
        "widths": widths,
        "mean_onset": {str(w): float(np.mean(v)) for w, v in points.items()},
        "seeds": {str(w): len(v) for w, v in points.items()},
    }


def shift_bounds(base_onset: float, onset: float, grid: Sequence[float]) -> tuple[float, float]:
    """The range of onset shifts a grid measurement allows: each grid onset only says the true
    onset lies in (the grid point below it, it], so the shift between two widths is known to
    within one grid step either side."""
    pts = sorted(grid)

    def below(x: float) -> float:
        return max([g for g in pts if g < x - 1e-9], default=-math.inf)

    return below(onset) - base_onset, onset - below(base_onset)
