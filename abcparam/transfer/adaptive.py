"""An adaptive LR sweep: a coarse log2 grid per (arm, size), extended past any edge optimum and
refined to a 0.25-log2 lattice around each optimum and around the LR the base size tunes
(:func:`abcparam.transfer.regret.refine`), every round trained as batched models
(:mod:`abcparam.transfer.batched`) and appended to one resumable JSON-lines file."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from .analysis import is_diverged
from .batched import run_batched_sweep
from .regret import RESOLUTION, estimate_optimum, refine
from .sweep import RunConfig

#: how far (coarse steps) a grid may grow past its first edge
MAX_EXTENSIONS = 4


def seed_mean(rows: list[dict], seeds: int) -> tuple[np.ndarray, np.ndarray]:
    """(log2 LRs, seed-mean loss) over the LRs every seed ran; inf where a run is unusable."""
    by_lr: dict[float, list[float]] = {}
    for r in rows:
        by_lr.setdefault(float(r["log2_lr"]), []).append(
            math.inf if is_diverged(r) else float(r["val_loss"])
        )
    lrs = sorted(lr for lr, v in by_lr.items() if len(v) >= seeds)
    return np.array(lrs), np.array([np.mean(by_lr[lr]) for lr in lrs])


def adaptive_sweep(
    make: Callable[[str, int, float, int], RunConfig],
    arms: Iterable[str],
    sizes: Iterable[int],
    coarse: dict[str, list[float]],
    seeds: int,
    results: str | Path,
    rounds: int = 4,
    resolution: float = RESOLUTION,
    half: float = 0.5,
    max_models: int | None = 48,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Run the sweep to resolution; ``make(arm, size, log2_lr, seed)`` builds one run.  Round 0
    runs each arm's coarse grid; each later round adds, per (arm, size), the points
    :func:`refine` asks for (lattice half-width ``half`` around the seed-mean argmin and
    ``half / 2`` around the base, i.e. smallest, size's optimum); it stops when none is asked."""
    sizes = sorted(sizes)
    arms = list(arms)
    grids = {(a, s): {float(x) for x in coarse[a]} for a in arms for s in sizes}
    grown = {key: 0 for key in grids}
    rows: list[dict] = []
    for round_ in range(rounds + 1):
        tagged = [
            (key, make(*key, lr, seed))
            for key, lrs in grids.items()
            for lr in sorted(lrs)
            for seed in range(seeds)
        ]
        rows = run_batched_sweep([c for _, c in tagged], results, max_models=max_models)
        if round_ == rounds:
            break
        cell: dict[tuple[str, int], list[dict]] = {key: [] for key in grids}
        for (key, _), row in zip(tagged, rows):
            cell[key].append(row)
        added = 0
        for a in arms:
            base = estimate_optimum(*seed_mean(cell[(a, sizes[0])], seeds)).value
            for s in sizes:
                lrs, losses = seed_mean(cell[(a, s)], seeds)
                around = () if s == sizes[0] or not math.isfinite(base) else (base,)
                new = refine(lrs, losses, resolution, half, 1.0, around)
                if len(new) == 1 and (new[0] < min(lrs) or new[0] > max(lrs)):
                    if grown[(a, s)] >= MAX_EXTENSIONS:
                        continue
                    grown[(a, s)] += 1
                grids[(a, s)].update(new)
                added += len(new)
        log(f"round {round_ + 1}: {added} new LRs over {len(grids)} (arm, size) curves")
        if not added:
            break
    return rows
