"""One sweep run of a user's own model: ``package.module:factory`` at a width, trained on the
user's batches, parametrized exactly as the coordinate check does (base = the factory at the base
width, layouts and attention calls read from one forward pass), so that any model the check
accepts can be swept (muTransfer, TP-V Sec. 5).

Batches: step t of seed s trains on ``batch_fn(s * 100_003 + t)`` (the check's fresh-batch
convention); the loss before and after training is the mean over ``VAL_BATCHES`` batches after the
last step (``batch_fn(s * 100_003 + steps + i)``), never trained on.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from ..coordcheck.check import _base_model, _check_output, _to_device, default_loss
from ..loading import load_object
from ..torch import build_optimizer, parametrize
from ..torch.calling import call_model
from .sweep import _kind_lrs, divergence, rules_for

#: held-out batches the validation loss averages
VAL_BATCHES = 4
#: the index stride between seeds (as the coordinate check's fresh batches)
SEED_STRIDE = 100_003


def train_user(cfg: Any) -> dict:
    """Train ``cfg.model`` (``package.module:factory``) for ``cfg.steps`` steps; the row that
    :func:`abcparam.transfer.sweep.train` returns for a built-in model."""
    import torch

    factory = load_object(cfg.model, "model")
    batch_fn = load_object(cfg.batch_fn, "batch") if cfg.batch_fn else None
    if batch_fn is None:
        raise ValueError(f"model {cfg.model!r} needs batch_fn='package.module:fn'")
    loss_fn = load_object(cfg.loss_fn, "loss") if cfg.loss_fn else default_loss
    rules = rules_for(cfg.scheme, cfg.optimizer, cfg.update_view)

    def get(i: int):
        inputs, targets = batch_fn(cfg.seed * SEED_STRIDE + i)
        return _to_device(inputs, cfg.device), _to_device(targets, cfg.device)

    torch.manual_seed(cfg.seed)
    model = factory(cfg.width)
    base = _base_model(factory, cfg.base_width)
    delta = _base_model(factory, 2 * cfg.base_width) if cfg.width == cfg.base_width else None
    first = batch_fn(cfg.seed * SEED_STRIDE)
    spec = parametrize(
        model,
        rules,
        base=base,
        delta=delta,
        seed=cfg.seed,
        example_batch=first[0],
        base_depth=cfg.base_depth,
    )
    model.to(cfg.device)
    opt = build_optimizer(model, spec, lr=_kind_lrs(cfg))
    held = [get(cfg.steps + i) for i in range(VAL_BATCHES)]
    _check_output(model, held[0][0], held[0][1], loss_fn)

    def validation() -> float:
        with torch.no_grad():
            return sum(loss_fn(call_model(model, x), y).item() for x, y in held) / len(held)

    initial = validation()
    with torch.no_grad():
        out = call_model(model, held[0][0])
    logits = getattr(out, "logits", out)
    # chance: the uniform prediction's cross-entropy, known for the default loss only
    chance = math.log(logits.shape[-1]) if loss_fn is default_loss else math.nan
    row = {"key": cfg.key, **asdict(cfg), "initial_loss": initial, "chance_loss": chance}
    for step in range(cfg.steps):
        x, y = get(step)
        loss = loss_fn(call_model(model, x), y)
        if not torch.isfinite(loss):
            return {
                **row,
                "val_loss": math.inf,
                "diverged": True,
                "diverged_reason": f"non-finite training loss at step {step}",
            }
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    val = validation()
    reason = divergence(val, initial, chance)
    return {
        **row,
        "val_loss": val if math.isfinite(val) else math.inf,
        "diverged": reason is not None,
        "diverged_reason": reason,
    }
