"""Fit width exponents: the slope of log(quantity) against log(width), with an uncertainty.

Each seed gives one least-squares slope (scipy.stats.linregress over the widths); the reported
slope is their mean and the uncertainty their standard error across seeds (with one seed, the
regression's own standard error).  Alignment exponents are the same fit of log(ratio) against
log(fan-in).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from .schema import Record


def slope_with_error(xs_by_seed: dict[int, list[tuple[float, float]]]) -> tuple[float, float]:
    """(mean slope, stderr) from per-seed (x, y) points in log-log space; nan if unfittable."""
    from scipy import stats  # here, not at import: it would add ~1 s before the first step

    slopes, errs = [], []
    for points in xs_by_seed.values():
        pts = [(x, y) for x, y in points if y > 0 and math.isfinite(y)]
        if len(pts) < 2:
            continue
        fit = stats.linregress(np.log([p[0] for p in pts]), np.log([p[1] for p in pts]))
        slopes.append(fit.slope)
        errs.append(fit.stderr if len(pts) > 2 else 0.0)
    if not slopes:
        return float("nan"), float("nan")
    if len(slopes) == 1:
        return float(slopes[0]), float(errs[0])
    return float(np.mean(slopes)), float(np.std(slopes, ddof=1) / math.sqrt(len(slopes)))


def fit_slopes(
    records: Iterable[Record], quantities: Iterable[str], x_key: str = "width"
) -> dict[tuple[str, str, int], tuple[float, float]]:
    """{(layer, quantity, step): (slope, stderr)} over widths (or fan-ins) and seeds."""
    grouped: dict[tuple, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    quantities = tuple(quantities)
    for rec in records:
        x = getattr(rec, x_key)
        x = rec.width if x is None else x
        for q in quantities:
            value = getattr(rec, q)
            if value is not None:
                grouped[(rec.layer, q, rec.step)][rec.seed].append((x, value))
    return {key: slope_with_error(by_seed) for key, by_seed in grouped.items()}
