"""Learning-rate sensitivity of a training recipe (Wortsman et al. 2023, Sec. 3.3, eq. 1): the
expectation over a log-uniform range of learning rates of ``min(L(eta), L_0) - L*``, with
``L_0`` the loss at initialisation and ``L*`` the best loss over the range.  A diverged run counts
as ``L_0``.  On a grid evenly spaced in log LR the expectation is the grid mean.  Lower is better.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from .runs import finite


def lr_sensitivity(losses: Sequence[float], initial: float) -> float:
    """Wortsman et al.'s sensitivity of one LR curve: ``mean(min(L, L_0)) - min(L)`` over the
    grid (``losses`` evenly spaced in log LR; a non-finite loss counts as ``initial``)."""
    if not finite(initial):
        raise ValueError(f"initial loss = {initial!r}; accepted: a finite number")
    if len(losses) < 2:
        raise ValueError(f"{len(losses)} learning rate(s); accepted: at least 2 (a curve over LR)")
    capped = [min(v, initial) if finite(v) else initial for v in losses]
    return float(np.mean(capped) - min(capped))


def _spaced_evenly(log2_lrs: Sequence[float]) -> bool:
    steps = np.diff(sorted(log2_lrs))
    return len(steps) == 0 or bool(np.allclose(steps, steps[0], rtol=1e-3, atol=1e-6))


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
        loss = row["val_loss"] if finite(row["val_loss"]) and not row.get("diverged") else math.inf
        curves[key][row["seed"]].append((row["log2_lr"], loss, row["initial_loss"]))
    table = {}
    for key, seeds in sorted(curves.items(), key=lambda kv: str(kv[0])):
        values = []
        for points in seeds.values():
            points.sort()
            lrs = [p[0] for p in points]
            if not _spaced_evenly(lrs):
                raise ValueError(f"{key}: log2 LRs {lrs} are not evenly spaced (log-uniform grid)")
            initial = float(np.mean([p[2] for p in points]))
            values.append(lr_sensitivity([p[1] for p in points], initial))
        n = len(values)
        table[key] = {
            "mean": float(np.mean(values)),
            "stderr": float(np.std(values, ddof=1) / math.sqrt(n)) if n > 1 else None,
            "seeds": n,
            "per_seed": values,
            "log2_lrs": sorted({p[0] for pts in seeds.values() for p in pts}),
        }
    return table
