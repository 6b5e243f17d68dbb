"""Loss-curve collapse (Supercollapse, Qiu et al. 2025, arXiv 2507.02119): loss curves normalised
by their final loss and their horizon, ``L(t / T) / L(T)``, fall on one curve across model sizes
when hyperparameters are scaled right; their spread across widths measures how far they do not."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

import numpy as np


def normalised_curve(
    steps: list[int], losses: list[float], horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """(t / T, L(t) / L(T)) of one traced run."""
    if not losses or not math.isfinite(losses[-1]) or losses[-1] <= 0:
        raise ValueError("a curve needs a finite positive final loss to be normalised")
    return np.asarray(steps, float) / horizon, np.asarray(losses, float) / losses[-1]


def collapse_spread(rows: Iterable[dict], start: float = 0.1) -> dict:
    """Per width the mean normalised curve over seeds; the spread = the standard deviation across
    widths at each normalised time ``t/T >= start``, averaged over time.  ``noise``: the same
    statistic across seeds within a width (averaged over widths), the floor a spread is compared
    with.  Rows: traced runs of one scheme (``trace`` with ``step`` and ``loss``)."""
    by_width: dict[int, list[np.ndarray]] = defaultdict(list)
    times = None
    for row in rows:
        trace = row.get("trace")
        if not trace or row.get("diverged"):
            continue
        t, y = normalised_curve(trace["step"], trace["loss"], row["steps"])
        if times is None:
            times = t
        elif len(t) != len(times) or not np.allclose(t, times):
            raise ValueError("traced runs with different record steps cannot be compared")
        by_width[row["width"]].append(y)
    if len(by_width) < 2 or times is None:
        raise ValueError(
            f"collapse needs traced runs at two or more widths; got {sorted(by_width)}"
        )
    keep = times >= start
    means = np.array([np.mean(c, axis=0) for _, c in sorted(by_width.items())])
    spread = float(np.mean(np.std(means[:, keep], axis=0, ddof=1)))
    within = [np.std(np.array(c)[:, keep], axis=0, ddof=1) for c in by_width.values() if len(c) > 1]
    noise = float(np.mean([np.mean(w) for w in within])) if within else None
    return {
        "spread": spread,
        "noise": noise,
        "widths": sorted(by_width),
        "time": times.tolist(),
        "curves": {str(w): m.tolist() for w, m in zip(sorted(by_width), means)},
        "start": start,
    }
