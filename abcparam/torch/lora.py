"""LoRA adapters on any model's linear layers, set by the rules ``abcparam.engine.lora`` derives.

``add_lora`` puts a pair of factors on every ``nn.Linear`` whose name matches a regex: through
PEFT's ``inject_adapter_in_model`` when PEFT is installed (the ecosystem's library; module names
``<layer>.lora_A.default``), through a small built-in wrapper otherwise (``<layer>.lora_A``).
Either way the derived rules set A's init, the multiplier ``s`` (Hu et al. 2021's alpha / r and
its relatives) and each factor's LR, relative to the (width, rank) the LR was tuned at.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..engine.lora import LoraRules, Scale

BACKENDS = ("auto", "peft", "builtin")


class LoraLinear(nn.Module):
    """``base(x) + scaling * lora_B(lora_A(x))`` with ``base`` frozen: the built-in adapter, laid
    out as PEFT lays it out (``lora_A`` r x in, ``lora_B`` out x r, both bias-free)."""

    def __init__(self, base: nn.Linear, rank: int) -> None:
        super().__init__()
        self.base_layer = base
        self.lora_A = nn.Linear(base.in_features, rank, bias=False)
        self.lora_B = nn.Linear(rank, base.out_features, bias=False)
        self.scaling = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base_layer(x) + self.scaling * self.lora_B(self.lora_A(x))


@dataclass(frozen=True)
class Adapter:
    """One adapted layer: its name, factor modules, fan-in/out, and the settings applied."""

    name: str
    A: nn.Linear
    B: nn.Linear
    fan_in: int
    fan_out: int
    multiplier: float
    lr_scale: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LoraSpec:
    """What ``add_lora`` did: the rules, the rank and base it scaled from, and each adapter."""

    rules: LoraRules
    rank: int
    base_rank: int
    base_width: int
    alpha: float
    backend: str
    adapters: tuple[Adapter, ...]

    def table(self) -> str:
        rows = ["| layer | multiplier | A lr scale | B lr scale |", "|---|---|---|---|"]
        for a in self.adapters:
            rows.append(
                f"| {a.name} | {a.multiplier:.4g} | {a.lr_scale['A']:.4g} | {a.lr_scale['B']:.4g} |"
            )
        return "\n".join(rows)


def _relative(scale: Scale, width: float, rank: float) -> float:
    """``(width)^-x (rank)^-y`` for ratios to the base: the factor a derived rule applies."""
    return float(width ** (-float(scale.width)) * rank ** (-float(scale.rank)))


def _backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend = {backend!r}; accepted: {', '.join(BACKENDS)}")
    if backend == "auto":
        try:
            import peft  # noqa: F401
        except ImportError:
            return "builtin"
        return "peft"
    return backend


def _targets(model: nn.Module, target: str) -> list[str]:
    pattern = re.compile(target)
    names = [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and pattern.fullmatch(name)
    ]
    if not names:
        linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
        raise ValueError(
            f"target {target!r} matches no nn.Linear of the model; its linear layers: "
            f"{', '.join(linears[:12])}{' ...' if len(linears) > 12 else ''}"
        )
    return names


def _inject_builtin(model: nn.Module, names: list[str], rank: int) -> None:
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoraLinear(getattr(parent, child), rank))


def _inject_peft(model: nn.Module, names: list[str], rank: int) -> None:
    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(r=rank, lora_alpha=rank, target_modules=names, lora_dropout=0.0)
    inject_adapter_in_model(config, model)


def _factor(module: nn.Module, name: str) -> nn.Linear:
    factor = module.get_submodule(name)
    if isinstance(factor, nn.ModuleDict):  # PEFT keeps one factor per adapter name
        factor = factor["default"]
    assert isinstance(factor, nn.Linear)
    return factor


def _factors(module: nn.Module) -> tuple[nn.Linear, nn.Linear]:
    return _factor(module, "lora_A"), _factor(module, "lora_B")


def _set_scaling(module: nn.Module, value: float) -> None:
    if isinstance(module, LoraLinear):
        module.scaling = value
    elif isinstance(scaling := getattr(module, "scaling", None), dict):
        scaling["default"] = value  # PEFT keeps one multiplier per adapter name
    else:
        raise TypeError(f"{type(module).__name__} is no LoRA-adapted layer (no scaling to set)")


def add_lora(
    model: nn.Module,
    rules: LoraRules,
    *,
    rank: int,
    target: str = r".*",
    alpha: float = 1.0,
    base_width: int | None = None,
    base_rank: int | None = None,
    backend: str = "auto",
    seed: int | None = None,
) -> LoraSpec:
    """Adapters of rank ``rank`` on every ``nn.Linear`` whose full name matches ``target``.

    The base model is frozen; A is drawn with std ``fan_in^-(init exponent)``, B starts at 0, the
    multiplier is ``alpha * (n / base_width)^-x * rank^-y`` (alpha/r for LoRA's rule) and each
    factor's LR scale ``(n / base_width)^-c_n (rank / base_rank)^-c_r`` is recorded for
    :func:`lora_param_groups`.  ``n`` is each layer's fan-in (hidden layers: the width).
    """
    if not isinstance(rank, int) or rank < 1:
        raise ValueError(f"rank = {rank!r}; accepted: a positive integer")
    backend = _backend(backend)
    names = _targets(model, target)
    for p in model.parameters():
        p.requires_grad_(False)
    (_inject_peft if backend == "peft" else _inject_builtin)(model, names, rank)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    adapters = []
    for name in names:
        module = model.get_submodule(name)
        A, B = _factors(module)
        fan_in, fan_out = A.in_features, B.out_features
        width = fan_in if rules.kind != "embedding" else fan_out
        n_ratio = width / (base_width or width)
        r_ratio = rank / (base_rank or rank)
        assert rules.A.init is not None
        std = fan_in ** (-float(rules.A.init.width))
        with torch.no_grad():
            A.weight.copy_(torch.randn(A.weight.shape, generator=generator) * std)
            B.weight.zero_()
        A.weight.requires_grad_(True)
        B.weight.requires_grad_(True)
        multiplier = (
            alpha
            * _relative(rules.multiplier, n_ratio, 1.0)
            * rank ** (-float(rules.multiplier.rank))
        )
        _set_scaling(module, multiplier)
        lr_scale = {
            "A": _relative(rules.A.lr, n_ratio, r_ratio),
            "B": _relative(rules.B.lr, n_ratio, r_ratio),
        }
        adapters.append(Adapter(name, A, B, fan_in, fan_out, multiplier, lr_scale))
    return LoraSpec(
        rules,
        rank,
        base_rank or rank,
        base_width or 0,
        alpha,
        backend,
        tuple(adapters),
    )


def lora_param_groups(
    spec: LoraSpec,
    lr: float,
    *,
    lr_ratio: float = 1.0,
    weight_decay: float = 0.0,
) -> list[dict[str, Any]]:
    """Torch param groups, one per factor kind and LR: A at ``lr`` times its derived scale, B at
    ``lr * lr_ratio`` times its own (``lr_ratio``: LoRA+'s eta_B / eta_A at the base size)."""
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr = {lr!r}; accepted: a positive finite number")
    if not (lr_ratio > 0 and math.isfinite(lr_ratio)):
        raise ValueError(f"lr_ratio = {lr_ratio!r}; accepted: a positive finite number")
    if weight_decay < 0:
        raise ValueError(f"weight_decay = {weight_decay!r}; accepted: >= 0")
    groups: dict[tuple[str, float], dict[str, Any]] = {}
    for adapter in spec.adapters:
        for factor, module, base in (("A", adapter.A, lr), ("B", adapter.B, lr * lr_ratio)):
            group_lr = base * adapter.lr_scale[factor]
            key = (factor, group_lr)
            group = groups.setdefault(
                key,
                {"params": [], "param_names": [], "factor": factor, "lr": group_lr},
            )
            group["params"].append(module.weight)
            group["param_names"].append(f"{adapter.name}.lora_{factor}")
            if weight_decay:
                group["weight_decay"] = weight_decay
    return list(groups.values())


def adapter_output(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The adapter's own contribution ``s B A x`` for an adapted layer's input ``x``."""
    A, B = _factors(module)
    scaling = module.scaling["default"] if isinstance(module.scaling, dict) else module.scaling
    return scaling * B(A(x))


__all__ = ["BACKENDS", "Adapter", "LoraLinear", "LoraSpec", "add_lora", "lora_param_groups"]
