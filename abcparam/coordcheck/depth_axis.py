"""Depth as an axis of the one coordinate-check pipeline: ``check(..., vary="depth")``.

Each (width, depth, seed) run builds ``factory(width, depth)``, parametrizes it with the rules'
depth factors relative to the smallest depth (CompleteP; TP-VI), and trains through the one
training loop (train.py) with the one :class:`~abcparam.coordcheck.record.Recorder`, here
measuring whole tensors in float64 with the residual-stream probe (stream.py); the records are
fitted against log L and judged with depth.py's predictions (engine/depth.py and the
finite-depth blend).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from ..engine.rules_table import Rules
from ..torch import build_optimizer, parametrize
from .check import _batch_fn, _rules, default_loss
from .depth import DepthCheckConfig, DepthCheckResult, judge, probes, save
from .options import CheckOptions
from .record import Recorder
from .schema import DepthRecord
from .stream import STREAM, WholeTensors
from .train import train


def depth_records(
    factory: Callable[..., nn.Module],
    rules: Rules | str,
    batch: Any,
    options: CheckOptions,
    *,
    scheme: str,
    loss: Callable[[Any, Any], torch.Tensor] | None = None,
    progress: bool = True,
) -> list[DepthRecord]:
    """Every (width, depth, seed) run's records, each with its ``scheme``."""
    from tqdm.std import tqdm  # tqdm.auto warns on book pages (no notebook widgets)

    rules, get_batch = _rules(rules), _batch_fn(batch)
    jobs = [
        (w, d, s)
        for w in options.widths
        for d in options.depths or ()
        for s in range(options.seeds)
    ]
    rows: list[DepthRecord] = []
    for width, depth, seed in tqdm(jobs, desc=f"depth check {scheme}", disable=not progress):
        measured = _depth_run(
            factory, rules, get_batch, loss or default_loss, options, width, depth, seed
        )
        rows += [replace(r, scheme=scheme) for r in measured]
    return rows


def _depth_run(factory, rules: Rules, get_batch, loss_fn, options, width, depth, seed) -> list:
    """One run: build, parametrize (depth factors relative to the base depth), train and record
    the probed layers and the stream."""
    torch.manual_seed(seed)
    x, y = get_batch(seed)
    model = factory(width, depth)
    spec = parametrize(model, rules, base_width=options.base, seed=seed, base_depth=options.depth0)
    opt = build_optimizer(model, spec, lr=options.base_lr(rules.optimizer))
    layers = {label: module for label, (_, module) in probes(model).items() if label != STREAM}
    exact = WholeTensors(layers, model.blocks, width=width, depth=depth, seed=seed)
    recorder = Recorder(model, (), width=width, seed=seed, exact=exact)
    records: list = []
    train(model, opt, loss_fn, itertools.repeat((x, y), options.steps), recorder, records, [])
    recorder.remove()
    return records


def check_depth(
    factory: Callable[..., nn.Module],
    rules: Rules | str,
    batch: Any,
    options: CheckOptions,
    *,
    loss: Callable[[Any, Any], torch.Tensor] | None = None,
    out: Any = None,
    progress: bool = True,
    name: str = "mlp",
    describe: Mapping[str, Any] | None = None,
):
    """``check(..., vary="depth")``: one scheme's depth check, judged (depth.judge), saved to
    ``out`` when given; ``name``: the built-in model's (mlp or transformer), whose layout the
    probes read; ``describe``: DepthCheckConfig fields to record (e.g. the batch size)."""
    rules = _rules(rules)
    scheme = getattr(rules, "scheme", None) or "custom"
    config = DepthCheckConfig(
        model=name,
        schemes=(scheme,),
        optimizer=rules.optimizer,
        depths=tuple(options.depths or ()),
        widths=tuple(options.widths),
        steps=options.steps,
        seeds=options.seeds,
        lr=options.base_lr(rules.optimizer),
        base_depth=options.base_depth,
        base_width=options.base_width,
        depth_alignment=(
            rules.depth_alignment.name if rules.has_depth and rules.depth_alignment else "coherent"
        ),
        tolerance=options.tolerance,
        **dict(describe or {}),
    )
    records = depth_records(
        factory, rules, batch, options, scheme=scheme, loss=loss, progress=progress
    )
    result = DepthCheckResult(config, records=records)
    judge(result)
    if out is not None:
        save(result, out)
    return result
