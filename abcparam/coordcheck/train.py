"""The training loop of every coordinate check: one optimizer step per batch, the recorder
measuring the states after 0, 1, ... updates on the probe batch (mup's fixed-data convention,
TP-V App. D: each step's forward on the probe batch doubles as the previous step's
measurement, so recording costs no extra forward but the last one)."""

from __future__ import annotations

import contextlib
import itertools
import math

import torch

from .record import call_model
from .schema import ALIGN, QUANTITIES, NonFinite


def train(model, opt, loss_fn, batches, recorder, records, nonfinite, fixed_batch=True) -> None:
    """One optimizer step per batch with ``recorder`` measuring the states after 0, 1, ...
    updates on the probe batch (the first); a non-finite value stops the run, earlier records
    kept.  ``batches``: (inputs, targets) pairs, a list or an iterator drawn one step at a time;
    inputs a tensor, a tuple of positional arguments or a dict of keyword arguments."""
    tag = {"width": recorder.width, "seed": recorder.seed}

    def keep(measured) -> bool:
        bad = [
            (r.layer, q)
            for r in measured
            for q in QUANTITIES + tuple(ALIGN.values())
            if getattr(r, q) is not None and not math.isfinite(getattr(r, q))
        ]
        records.extend(measured)
        nonfinite.extend(
            NonFinite(**tag, step=measured[0].step, layer=layer, quantity=q) for layer, q in bad
        )
        return not bad

    batches = iter(batches)
    first = next(batches)
    probe = first[0]
    step = 0
    for step, (x, y) in enumerate(itertools.chain([first], batches), start=1):
        if fixed_batch:
            x, y = first
        with recorder.capture() if fixed_batch or step == 1 else contextlib.nullcontext():
            loss = loss_fn(call_model(model, x), y)
        if step == 1:
            if not keep(recorder.start()):
                return
        elif fixed_batch and not keep(recorder.measure(step=step - 1)):
            return
        if not torch.isfinite(loss):
            nonfinite.append(NonFinite(**tag, step=step, layer="loss", quantity="loss"))
            return
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if not fixed_batch and not keep(recorder.measure(probe, step=step)):
            return
    if fixed_batch:
        keep(recorder.measure(probe, step=step))
