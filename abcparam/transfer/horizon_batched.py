"""K learning rates x S seeds of one warmup-stable-decay horizon run (:mod:`.horizon`) trained
as ONE batched model: the horizon grid's cells at a fraction of the separate runs' cost.

Every run of a cohort (horizon runs that differ only in ``log2_lr`` and ``seed``) is built as
:func:`~.horizon.train_wsd` builds it (seeded model, the engine's rules, AdamW with each group's
peak LR and decay), then stacked by :func:`~.batched.stack`.  The schedule (linear warmup, the
stable phase, each horizon's linear decay to zero; MiniCPM, arXiv 2404.06395, Sec. 4) is shared by
the cohort, so each step scales every model's LR, and with it AdamW's decay ``1 - lr·λ``, by one
factor, as torch does when the group's LR is set.  A decay branch snapshots the stacked
parameters, optimizer state and the per-seed data streams, and restores them for the stable run.
Each row is :func:`~.horizon.train_wsd`'s (tests/transfer/test_horizon_batched.py: to 1e-5).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ..records import dumps_strict
from .batched import _losses, cohorts, stack
from .batched_support import optimizer_unsupported, refuse_unsupported
from .denormals import flush_denormals
from .horizon import HorizonRun, _WSDRun, branch_result, decay_start, finished, lr_factor, wsd_row

#: the HorizonRun fields that may differ inside one batched cohort
VARYING = ("log2_lr", "seed")


def cohort_key(cfg: HorizonRun) -> tuple:
    """What runs of one batched model share: every HorizonRun field but the LR and the seed."""
    return tuple((k, v) for k, v in asdict(cfg).items() if k not in (*VARYING, "extra"))


def unsupported(cfg: HorizonRun) -> list[str]:
    """What of one horizon run the batched trainer does not support (empty: it can train it)."""
    why = []
    if cfg.device != "cpu":
        why.append(f"device {cfg.device!r} (batched: cpu)")
    if cfg.record_updates:
        why.append("record_updates (batched: off; the late-training check runs unbatched)")
    bad = optimizer_unsupported(cfg.optimizer)
    if bad:
        why.append(bad)
    return why


def check_batched(configs: list[HorizonRun]) -> None:
    """Raise ValueError naming every unsupported setting (each once) or a mixed cohort."""
    if not configs:
        raise ValueError("no run to batch: give one or more HorizonRuns")
    refuse_unsupported(configs, unsupported, "the batched horizon trainer")
    if len({cohort_key(c) for c in configs}) > 1:
        raise ValueError(
            f"runs of one batched model may differ only in {', '.join(VARYING)}; split them "
            "with cohorts(configs, key=cohort_key)"
        )


class _Stack:
    """A cohort in training: the stacked runs, one data stream per seed, the shared held-out
    windows and which models are alive."""

    def __init__(self, configs: list[HorizonRun]) -> None:
        self.cfg = configs[0]
        runs = [_WSDRun.start(c) for c in configs]
        self.batched = stack(configs, [(r.model, r.opt) for r in runs])
        self.model = self.batched.model
        self.hidden = [name for name, _ in runs[0].hidden]
        self.vocab = runs[0].vocab
        self.train_ids = runs[0].train_ids
        self.val = runs[0].val  # the same windows in every run (their generator is fixed)
        seeds = sorted({c.seed for c in configs})
        self.which = torch.tensor([seeds.index(c.seed) for c in configs])
        self.streams = [torch.Generator().manual_seed(s) for s in seeds]
        self.M = len(configs)
        self.alive = torch.ones(self.M, dtype=torch.bool)

    def draw(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Each model's training batch [M, B, context] from its seed's stream."""
        from . import data

        cfg = self.cfg
        got = [data.lm_batch(self.train_ids, cfg.batch, cfg.context, g) for g in self.streams]
        x = torch.stack([a for a, _ in got])[self.which]
        return x, torch.stack([b for _, b in got])[self.which]

    @torch.no_grad()
    def validate(self) -> list[float]:
        """Each model's mean loss on the held-out windows, in chunks of 64 as the separate run."""
        val_x, val_y = self.val
        total = torch.zeros(self.M, dtype=torch.float64)
        for i in range(0, len(val_x), 64):
            x, y = val_x[i : i + 64], val_y[i : i + 64]
            losses = _losses(self.model(x.expand(self.M, *x.shape)), y.expand(self.M, *y.shape))
            total += losses.double() * len(x)
        return (total / len(val_x)).tolist()

    def steps(self, first: int, last: int, horizon: int | None, curves: list[list]) -> None:
        """Train steps first..last-1 of every live model; a non-finite training loss ends that
        model there (as :meth:`~.horizon._WSDRun.steps` returns False)."""
        cfg, batched = self.cfg, self.batched
        windows: list[list[float]] = [[] for _ in range(self.M)]
        for step in range(first, last):
            if not bool(self.alive.any()):
                return
            batched.set_factor(lr_factor(step, cfg.warmup, horizon, cfg.decay_fraction))
            x, y = self.draw()
            losses = _losses(self.model(x), y)
            seen = losses.detach()
            dead = self.alive & ~torch.isfinite(seen)
            self.alive &= ~dead
            if not bool(self.alive.any()):
                batched.kill(dead)
                return
            batched.zero_grad()
            (losses.sum() if bool(self.alive.all()) else losses[self.alive].sum()).backward()
            batched.step(step + 1)
            if bool(dead.any()):  # after the step: its gradient may be NaN, zeroed here with it
                batched.kill(dead)
            for i in torch.nonzero(self.alive).flatten().tolist():
                windows[i].append(float(seen[i]))
                if (step + 1) % cfg.curve_every == 0:
                    curves[i].append([step + 1, sum(windows[i]) / len(windows[i])])
                    windows[i] = []

    def branch(self, start: int, horizon: int, last: bool, initial: list[float]) -> list[dict]:
        """Every model's decay branch from ``start`` to ``horizon`` and its result; unless it
        is the ``last`` horizon, parameters, optimizer, streams and deaths are restored."""
        chance = math.log(len(self.vocab))
        before = self.alive.clone()
        saved = None
        if not last and bool(before.any()):
            saved = (self.batched.snapshot(), [g.get_state() for g in self.streams])
        curves: list[list] = [[] for _ in range(self.M)]
        self.steps(start, horizon, horizon, curves)
        vals = self.validate() if bool(self.alive.any()) else [math.inf] * self.M
        out = [
            branch_result(bool(self.alive[i]), vals[i], initial[i], chance, curves[i])
            for i in range(self.M)
        ]
        if saved is not None:
            self.batched.restore(saved[0])
            for g, state in zip(self.streams, saved[1], strict=True):
                g.set_state(state)
            self.alive = before
        return out


def train_wsd_batched(configs: list[HorizonRun], threads: int = 1) -> list[dict]:
    """Train one cohort of horizon runs as one batched model; one row per run, as
    :func:`~.horizon.train_wsd` returns it, marked ``"trainer": "batched"``.  Denormals are
    flushed to zero while it trains (:mod:`.denormals`: speed only)."""
    check_batched(configs)
    torch.set_num_threads(threads)
    with flush_denormals():
        run = _Stack(configs)
        initial = run.validate()
        horizons = sorted(int(t) for t in run.cfg.horizons)
        results: list[dict[str, dict]] = [{} for _ in configs]
        stable: list[list] = [[] for _ in configs]
        step = 0
        for horizon in horizons:
            start = decay_start(horizon, run.cfg.decay_fraction)
            if bool(run.alive.any()):
                run.steps(step, start, None, stable)
                step = start
            last = horizon == horizons[-1]
            for i, result in enumerate(run.branch(start, horizon, last, initial)):
                results[i][str(horizon)] = result
    chance = math.log(len(run.vocab))
    return [
        {
            **wsd_row(cfg, horizons, initial[i], chance, results[i], stable[i], run.hidden),
            "trainer": "batched",
        }
        for i, cfg in enumerate(configs)
    ]


def chunks(configs: list[HorizonRun], workers: int, max_models: int | None) -> list[list]:
    """The cohorts cut so that each of ``workers`` processes gets a share of every cohort (and
    none holds more than ``max_models`` models, a memory bound)."""
    out = []
    for cohort in cohorts(configs, key=cohort_key):
        size = math.ceil(len(cohort) / max(1, workers))
        if max_models is not None:
            size = min(size, max_models)
        out += [cohort[i : i + size] for i in range(0, len(cohort), size)]
    return out


def run_grid_batched(
    configs: list[HorizonRun],
    results: str | Path,
    workers: int = 1,
    max_models: int | None = 32,
    progress: bool = True,
    train: Callable[[list[HorizonRun], int], list[dict]] = train_wsd_batched,
) -> list[dict]:
    """:func:`~.horizon.run_grid` with batched cohorts: every config not yet in ``results``
    (JSON lines, the same rows: the two resume each other), appending each chunk's rows as it
    ends; ``workers`` processes, the CPU's threads shared among them."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm.std import tqdm

    path = Path(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = finished(path)
    todo = [c for c in configs if c.key not in done]
    for chunk in cohorts(todo, key=cohort_key):
        check_batched(chunk)
    parts = chunks(todo, workers, max_models)
    count = max(1, min(workers, len(parts)))
    threads = max(1, (os.cpu_count() or 1) // count)
    bar = tqdm(total=len(todo), desc="horizon grid (batched)", disable=not progress)
    with path.open("a") as sink:

        def record(rows: list[dict[str, Any]]) -> None:
            for row in rows:
                sink.write(dumps_strict(row, indent=None) + "\n")
                done[row["key"]] = row
            sink.flush()
            bar.update(len(rows))

        if count <= 1:
            for part in parts:
                record(train(part, threads))
        elif parts:
            with ProcessPoolExecutor(max_workers=count) as pool:
                for fut in as_completed([pool.submit(train, p, threads) for p in parts]):
                    record(fut.result())
    bar.close()
    return [done[c.key] for c in configs]


__all__ = [
    "VARYING",
    "check_batched",
    "chunks",
    "cohort_key",
    "run_grid_batched",
    "train_wsd_batched",
    "unsupported",
]
