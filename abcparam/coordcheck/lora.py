"""Coordinate check of LoRA adapters in the width and in the rank (engine/lora.py's prediction).

Each (width, rank, seed) trains only the adapters for a few steps and records, per adapted layer
and step, the RMS of the adapter's output ``s B A x`` (B starts at 0, so this is its change), of
the bottleneck ``h = A x``, of B's entries and of ``B h``.  Slopes against log width (at fixed
rank) and log rank (at fixed width) are compared with the derived ones; the rank alignment is
measured as the slope of ``log(rms(B h) / (rms(B) rms(h)))`` against log rank (a sum of r terms
grows like r^alignment), the rank's analogue of Everett et al. 2024's alpha.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..engine.lora import LoraRules
from ..torch.lora import add_lora, lora_param_groups
from ..torch.optim import make_single
from .fit import slope_with_error

QUANTITIES = ("output", "h", "B", "Bh")


@dataclass(frozen=True)
class LoraRecord:
    """One adapted layer at one step of one (width, rank, seed) run."""

    layer: str
    width: int
    rank: int
    seed: int
    step: int
    output: float
    h: float
    B: float
    Bh: float

    @property
    def rank_sum(self) -> float:
        """rms(B h) / (rms(B) rms(h)): how a sum over the rank grows (nan before B moves)."""
        denominator = self.B * self.h
        return self.Bh / denominator if denominator > 0 else float("nan")


def _rms(t: torch.Tensor) -> float:
    return float(t.detach().float().pow(2).mean().sqrt())


def _default_loss(output: Any, targets: torch.Tensor) -> torch.Tensor:
    logits = output.logits if hasattr(output, "logits") else output
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def _run(
    make_model: Callable[[int], nn.Module],
    batch: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
    rules: LoraRules,
    width: int,
    rank: int,
    seed: int,
    options: dict[str, Any],
) -> list[LoraRecord]:
    torch.manual_seed(seed)
    model = make_model(width)
    spec = add_lora(
        model,
        rules,
        rank=rank,
        target=options["target"],
        alpha=options["alpha"],
        base_width=options["base_width"],
        base_rank=options["base_rank"],
        backend=options["backend"],
        seed=seed,
    )
    groups = lora_param_groups(spec, options["lr"], lr_ratio=options["lr_ratio"])
    optimizer = make_single(rules.optimizer, groups, options["lr"])
    inputs: dict[str, torch.Tensor] = {}
    hooks = [
        model.get_submodule(a.name).register_forward_pre_hook(
            lambda _m, args, name=a.name: inputs.__setitem__(name, args[0].detach())
        )
        for a in spec.adapters
    ]
    records = []
    x, y = batch(seed)
    for step in range(1, options["steps"] + 1):
        if options["fresh_batches"] and step > 1:
            x, y = batch(seed + 1000 * step)
        loss = _default_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            model(batch(seed)[0])  # measure on the first batch
            for a in spec.adapters:
                h = a.A(inputs[a.name])
                bh = a.B(h)
                records.append(
                    LoraRecord(
                        a.name,
                        width,
                        rank,
                        seed,
                        step,
                        output=_rms(bh) * a.multiplier,
                        h=_rms(h),
                        B=_rms(a.B.weight),
                        Bh=_rms(bh),
                    )
                )
        if not math.isfinite(loss.item()):
            raise FloatingPointError(
                f"LoRA check: loss {loss.item()} at width {width}, rank {rank}, seed {seed}, "
                f"step {step}; lower lr (now {options['lr']})"
            )
    for hook in hooks:
        hook.remove()
    return records


@dataclass(frozen=True)
class LoraSlope:
    """A fitted slope (mean over adapted layers of the per-layer seed-mean slopes)."""

    axis: str  # "width" or "rank"
    at: int  # the rank (width axis) or width (rank axis) held fixed
    quantity: str
    step: int
    slope: float
    stderr: float


def fit(records: Sequence[LoraRecord], axis: str) -> list[LoraSlope]:
    """Slopes of log(quantity) against log(axis) per (held value, quantity, step), averaged over
    layers; the rank alignment is ``quantity="rank_sum"`` on the rank axis."""
    held = "rank" if axis == "width" else "width"
    out = []
    keys = sorted({(getattr(r, held), r.step) for r in records})
    for at, step in keys:
        subset = [r for r in records if getattr(r, held) == at and r.step == step]
        if len({getattr(r, axis) for r in subset}) < 3:
            continue  # a slope needs at least three sizes
        for quantity in (*QUANTITIES, "rank_sum"):
            per_layer = []
            for layer in sorted({r.layer for r in subset}):
                points: dict[int, list[tuple[float, float]]] = {}
                for r in subset:
                    if r.layer == layer:
                        value = getattr(r, quantity)
                        points.setdefault(r.seed, []).append((getattr(r, axis), value))
                per_layer.append(slope_with_error(points))
            slopes = [s for s, _ in per_layer if math.isfinite(s)]
            errs = [e for s, e in per_layer if math.isfinite(s)]
            if slopes:
                out.append(
                    LoraSlope(
                        axis, at, quantity, step, float(np.mean(slopes)), float(np.mean(errs))
                    )
                )
    return out


def predicted_output_slope(rules: LoraRules, axis: str, rank_alignment: float) -> float:
    """The adapter output's slope the rules predict when the rank sums meet ``rank_alignment``:
    0 in the width; in the rank, the gap between the measured and the assumed alignment (for
    optimizers whose ``s dB h`` sums r aligned entries; Muon's norms do not)."""
    if axis == "width" or rules.optimizer.startswith("muon") or rules.optimizer == "sgd":
        return 0.0
    return rank_alignment - float(rules.rank_alignment)


def lora_check(
    make_model: Callable[[int], nn.Module],
    batch: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
    rules: LoraRules,
    *,
    widths: Sequence[int],
    ranks: Sequence[int],
    width_rank: int,
    rank_width: int,
    target: str,
    steps: int = 3,
    seeds: int = 2,
    lr: float = 1e-3,
    lr_ratio: float = 1.0,
    alpha: float = 1.0,
    backend: str = "builtin",
    fresh_batches: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train adapters at ``widths`` (rank ``width_rank``) and ``ranks`` (width ``rank_width``);
    return the records, the fitted slopes and the measured rank alignment per step."""
    if len(set(widths)) < 3 or len(set(ranks)) < 3:
        raise ValueError(
            f"widths {list(widths)} and ranks {list(ranks)}: a slope needs at least 3 distinct "
            f"values of each"
        )
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr = {lr!r}; accepted: a positive finite number")
    options = dict(
        target=target,
        alpha=alpha,
        base_width=min(widths),
        base_rank=min(ranks),
        backend=backend,
        lr=lr,
        lr_ratio=lr_ratio,
        steps=steps,
        fresh_batches=fresh_batches,
    )
    runs = [(w, width_rank) for w in widths] + [(rank_width, r) for r in ranks]
    runs = list(dict.fromkeys(runs))
    from tqdm.std import tqdm

    records: list[LoraRecord] = []
    for width, rank in tqdm(runs, desc="LoRA check", disable=not progress):
        for seed in range(seeds):
            records += _run(make_model, batch, rules, width, rank, seed, options)
    by_width = fit([r for r in records if r.rank == width_rank], "width")
    by_rank = fit([r for r in records if r.width == rank_width], "rank")
    alignment = {
        s.step: s.slope for s in by_rank if s.quantity == "rank_sum" and s.at == rank_width
    }
    verdicts = []
    for s in by_width + by_rank:
        if s.quantity != "output":
            continue
        measured_alignment = alignment.get(s.step, float(rules.rank_alignment))
        want = predicted_output_slope(rules, s.axis, measured_alignment)
        verdicts.append({**asdict(s), "predicted": want, "pass": abs(s.slope - want) <= 0.15})
    return {
        "records": [asdict(r) for r in records],
        "slopes": [asdict(s) for s in by_width + by_rank],
        "rank_alignment": alignment,
        "verdicts": verdicts,
        "options": {k: v for k, v in options.items()},
        "rules": rules.to_dict(),
    }


__all__ = ["LoraRecord", "LoraSlope", "fit", "lora_check", "predicted_output_slope"]
