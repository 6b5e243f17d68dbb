"""Learning-rate sensitivity of a training recipe (Wortsman et al. 2023, Sec. 3.3, eq. 1): the
expectation over a log-uniform range of learning rates of ``min(L(eta), L_0) - L*``, with
``L_0`` the loss at initialisation and ``L*`` the best loss over the range.  A diverged run counts
as ``L_0``.  On a grid evenly spaced in log LR the expectation is the grid mean.  Lower is better.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from .runs import finite


def lr_sensitivity(losses: Sequence[float], initial: float) -> float:
    """Wortsman et al.'s sensitivity of one LR curve: ``mean(min(L, L_0)) - min(L)`` over the
    grid (``losses`` evenly spaced in log LR; a non-finite loss counts as ``initial``)."""
    if not finite(initial):
        raise ValueError(f"initial loss = {initial!r}; accepted: a finite number")
    if len(losses) < 2:
        raise ValueError(f"{len(losses)} learning rate(s); accepted: at least 2 (a curve over LR)")
    capped = _capped(losses, initial)
    return float(np.mean(capped) - min(capped))


def _capped(losses: Sequence[float], initial: float) -> list[float]:
    """The metric's losses: each capped at the loss at initialisation, a non-finite one counted
    as it (a diverged run has learnt nothing)."""
    return [min(v, initial) if finite(v) else initial for v in losses]


def _spaced_evenly(log2_lrs: Sequence[float]) -> bool:
    steps = np.diff(sorted(log2_lrs))
    return len(steps) == 0 or bool(np.allclose(steps, steps[0], rtol=1e-3, atol=1e-6))


def _point(row: dict) -> tuple[float, float, float]:
    """(log2 LR, final loss or inf where the run diverged, loss at initialisation) of one run."""
    loss = row["val_loss"] if finite(row["val_loss"]) and not row.get("diverged") else math.inf
    return row["log2_lr"], loss, row["initial_loss"]


def _curve(points: list[tuple[float, float, float]], name: str) -> tuple[list, list, float]:
    """One seed's LR curve sorted by LR: (log2 LRs, losses, its mean loss at initialisation);
    the LRs must be evenly spaced in log (the metric's log-uniform expectation is then a mean)."""
    points = sorted(points)
    lrs = [p[0] for p in points]
    if not _spaced_evenly(lrs):
        raise ValueError(f"{name}: log2 LRs {lrs} are not evenly spaced (log-uniform grid)")
    return lrs, [p[1] for p in points], float(np.mean([p[2] for p in points]))


def sensitivity_table(
    rows: Iterable[dict], group: Sequence[str] = ("scheme", "width")
) -> dict[tuple, dict]:
    """Per group (e.g. scheme, width, variant fields of the rows): the sensitivity of each seed's
    LR curve, and their mean ± standard error over seeds.  ``L_0`` is each run's own loss at
    initialisation (``initial_loss``), averaged over the curve's runs."""
    curves: dict[tuple, dict[int, list[tuple[float, float, float]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for row in rows:
        key = tuple(row.get(name) for name in group)
        curves[key][row["seed"]].append(_point(row))
    table = {}
    for key, seeds in sorted(curves.items(), key=lambda kv: str(kv[0])):
        values, by_seed = [], {}
        for seed, points in seeds.items():
            _, losses, initial = _curve(points, str(key))
            values.append(lr_sensitivity(losses, initial))
            by_seed[seed] = values[-1]
        n = len(values)
        table[key] = {
            "mean": float(np.mean(values)),
            "stderr": float(np.std(values, ddof=1) / math.sqrt(n)) if n > 1 else None,
            "seeds": n,
            "per_seed": values,
            "by_seed": by_seed,
            "log2_lrs": sorted({p[0] for pts in seeds.values() for p in pts}),
        }
    return table


def width_slope(
    by_width: Mapping[int, Mapping[int, float]],
    bootstrap: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """How the sensitivity moves per doubling of width (Wortsman et al.'s "flat in width" under
    μP, as a number): the least-squares slope of the seed-mean sensitivity against log2 width,
    with a percentile interval from resampling the seeds jointly across widths (a seed fixes the
    data order at every width). ``by_width``: {width: {seed: sensitivity}}; at least 3 widths
    (a slope from 2 is a difference) and 2 seeds shared by all of them."""
    widths = sorted(by_width)
    if len(widths) < 3:
        raise ValueError(f"widths {widths}; accepted: at least 3 widths for a slope")
    shared = sorted(set.intersection(*(set(by_width[w]) for w in widths)))
    if len(shared) < 2:
        raise ValueError(f"seeds {shared} shared by widths {widths}; accepted: at least 2")
    x = np.log2(widths)
    values = np.array([[by_width[w][s] for s in shared] for w in widths])  # widths x seeds

    def slope(columns: np.ndarray) -> float:
        return float(np.polyfit(x, values[:, columns].mean(axis=1), 1)[0])

    rng = np.random.default_rng(seed)
    draws = [slope(rng.integers(0, len(shared), len(shared))) for _ in range(bootstrap)]
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(draws, [tail, 100 - tail])
    return {
        "slope": slope(np.arange(len(shared))),
        "low": float(low),
        "high": float(high),
        "widths": widths,
        "seeds": shared,
    }


def sensitivity_parts(rows: Iterable[dict], split_log2_lr: float) -> dict[int, dict[str, float]]:
    """Where one LR curve's sensitivity comes from: per seed, the grid mean of the capped loss
    split into the LRs below ``split_log2_lr`` and those at or above it (each summed over its
    points and divided by the whole grid's size), and the best loss, so that
    ``below + above - best`` is the seed's :func:`lr_sensitivity`.  ``rows``: one scheme's and
    width's runs (every seed on the same log-uniform grid)."""
    by_seed: dict[int, list[tuple[float, float, float]]] = defaultdict(list)
    for row in rows:
        by_seed[row["seed"]].append(_point(row))
    parts = {}
    for seed, points in sorted(by_seed.items()):
        lrs, losses, initial = _curve(points, f"seed {seed}")
        capped = list(zip(lrs, _capped(losses, initial)))
        n = len(capped)
        parts[seed] = {
            "below": sum(v for lr, v in capped if lr < split_log2_lr) / n,
            "above": sum(v for lr, v in capped if lr >= split_log2_lr) / n,
            "best": min(v for _, v in capped),
        }
    return parts
