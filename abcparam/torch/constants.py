"""Width-dependent constants an architecture computes itself, held at the base model's value.

Gemma multiplies its token embeddings by ``sqrt(hidden_size)`` (``embed_scale``): a factor that
grows as ``n^(1/2)`` on top of the multiplier ``n^-a`` the rules give the embedding, so its output
would grow with width (measured: slope +0.5 at init under muP).  As the attention scale is
(:mod:`abcparam.torch.attention`), such a constant is normalised at the base model: it keeps the
base model's value at every width, so the base model is unchanged and the rules alone carry it
to other widths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

#: attributes that hold an architecture's own output constant (Gemma's embedding scale)
CONSTANT_ATTRS = ("embed_scale",)


@dataclass(frozen=True)
class ConstantPlan:
    """``module.<attr>`` set from ``value`` (its own, width-dependent) to ``base_value``."""

    name: str
    attr: str
    value: float
    base_value: float


def _read(module: nn.Module, attr: str) -> float | None:
    """The constant as a float: the module's ``scalar_<attr>`` copy, else a non-meta tensor."""
    scalar = getattr(module, f"scalar_{attr}", None)
    if isinstance(scalar, (int, float)) and not isinstance(scalar, bool):
        return float(scalar)
    value = getattr(module, attr, None)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if torch.is_tensor(value) and value.numel() == 1 and value.device.type != "meta":
        return float(value.item())
    return None


def plan_constants(model: nn.Module, base: nn.Module | None) -> list[ConstantPlan]:
    """One plan per constant whose value differs between ``model`` and ``base``."""
    if base is None:
        return []
    base_modules = dict(base.named_modules())
    plans = []
    for name, module in model.named_modules():
        other = base_modules.get(name)
        for attr in CONSTANT_ATTRS:
            value = _read(module, attr)
            base_value = _read(other, attr) if other is not None else None
            if value is None or base_value is None or math.isclose(value, base_value):
                continue
            plans.append(ConstantPlan(name, attr, value, base_value))
    return plans


def apply_constants(model: nn.Module, plans: list[ConstantPlan]) -> None:
    """Set every planned constant to its base value (tensor buffer and float copy alike)."""
    modules = dict(model.named_modules())
    for plan in plans:
        module = modules[plan.name]
        current = getattr(module, plan.attr)
        if torch.is_tensor(current):
            with torch.no_grad():
                current.fill_(plan.base_value)
        else:
            setattr(module, plan.attr, plan.base_value)
        if hasattr(module, f"scalar_{plan.attr}"):
            setattr(module, f"scalar_{plan.attr}", plan.base_value)
