"""Apply derived rules to a torch model: init, forward multipliers, attention scale, LR/eps groups.

With ``ratio = width / base_width`` each parameter of kind K gets (THEORY.md conventions):
multiplier ``ratio^-a_K``, init std ``sigma_K * ratio^-b_K``, learning rate ``lr * ratio^-c_K`` and
Adam epsilon ``eps * ratio^-eps_K``.  At the base width every factor is 1: the model is the one the
user tuned, and the exponents carry it to any width (TP-V, muTransfer).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.utils.parametrize as P
from torch import nn

from ..engine.rules import Rules
from .layers import ScaledEmbedding, ScaledLayerNorm, ScaledLinear
from .mapping import map_parameters
from .models import Attention
from .optim import make_optimizer


@dataclass(frozen=True)
class ParamSpec:
    """What parametrize() did to one parameter."""

    name: str
    kind: str
    multiplier: float
    init_std: float
    lr_scale: float
    eps_scale: float


@dataclass
class Spec:
    """The parametrization of one model instance."""

    rules: Rules
    width: int
    base_width: int
    params: list[ParamSpec]
    layers: list[tuple[str, str]] = field(default_factory=list)
    parents: list[list[int]] | None = None
    tensors: dict[str, nn.Parameter] = field(default_factory=dict, repr=False)

    def param(self, name: str) -> ParamSpec:
        return next(p for p in self.params if p.name == name)


class _Multiplier(nn.Module):
    """weight -> m * weight, for modules that are not abcparam's own (torch parametrize)."""

    def __init__(self, m: float) -> None:
        super().__init__()
        self.m = m

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w * self.m


def _number(value, what: str) -> float:
    try:
        return float(value)
    except TypeError:
        raise ValueError(
            f"{what} = {value} is symbolic; derive the rules with a numeric "
            f"alignment to apply them to a model"
        ) from None


def _base_std(kind: str, module: nn.Module, param: nn.Parameter, ratio: float) -> float:
    """Init std at the base width: 1/sqrt(fan-in at base) for matrices (1 for token embeddings),
    1 (a constant, not a std) for norm gains, 0 for biases."""
    if kind == "bias":
        return 0.0
    if kind == "norm":
        return 1.0
    if isinstance(module, nn.Embedding):
        return 1.0
    fan_in = param.shape[1]
    base_fan_in = fan_in / ratio if kind in ("hidden", "readout") else fan_in
    return 1.0 / math.sqrt(base_fan_in)


def parametrize(
    model: nn.Module,
    rules,
    base_width: int,
    width: int | None = None,
    layer_map: Mapping[str, str] | None = None,
    zero_readout: bool = False,
    seed: int | None = None,
    base: nn.Module | None = None,
) -> Spec:
    """Initialise ``model`` and set its multipliers and attention scale from ``rules``."""
    width = width if width is not None else getattr(model, "width", None)
    if width is None:
        raise ValueError("this model has no .width attribute: pass width=")
    ratio = width / base_width
    if base is None:
        if not hasattr(model, "at_width"):
            raise ValueError("pass base=make(base_width) for a model that is not a built-in one")
        base = model.at_width(base_width * 2 if base_width == width else base_width)
    kinds = map_parameters(model, base, layer_map)
    modules = dict(model.named_modules())
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    specs = []
    tensors = {}
    for name, param in list(model.named_parameters()):
        if name not in kinds:
            continue
        kind = kinds[name]
        rule = rules[kind]
        a, b, c = (_number(getattr(rule, x), f"{kind}.{x}") for x in ("a", "b", "c"))
        g = 0.0 if rule.eps is None else _number(rule.eps, f"{kind}.eps")
        module_name, _, attr = name.rpartition(".")
        module = modules[module_name]
        multiplier = ratio ** (-a)
        std = _base_std(kind, module, param, ratio) * ratio ** (-b)
        if zero_readout and kind == "readout":
            std = 0.0
        with torch.no_grad():
            if kind == "norm":
                param.fill_(std)
            elif std == 0.0:
                param.zero_()
            else:
                param.normal_(0.0, std, generator=generator)
        if isinstance(module, (ScaledLinear, ScaledEmbedding, ScaledLayerNorm)):
            setattr(module, "multiplier" if attr == "weight" else "bias_multiplier", multiplier)
        elif multiplier != 1.0:
            P.register_parametrization(module, attr, _Multiplier(multiplier))
        specs.append(ParamSpec(name, kind, multiplier, std, ratio ** (-c), ratio ** (-g)))
        tensors[name] = param
    x = float(rules.attention_logit_exponent)
    for module in model.modules():
        if isinstance(module, Attention):
            d0 = module.d_head / ratio
            # d_head^-x, normalised so that the base width keeps the usual 1/sqrt(d0)
            module.scale = module.d_head ** (-x) * d0 ** (x - 0.5)
    layers = model.chain() if hasattr(model, "chain") else []
    parents = model.parents() if hasattr(model, "parents") else None
    return Spec(rules, width, base_width, specs, layers, parents, tensors)


def build_optimizer(
    model: nn.Module,
    spec: Spec,
    optimizer: str | None = None,
    lr: float = 1e-3,
    eps: float = 1e-8,
    betas: tuple[float, float] = (0.9, 0.999),
    scale_eps: bool = True,
) -> torch.optim.Optimizer:
    """One param group per parameter with ``lr * ratio^-c`` (and ``eps * ratio^-eps`` for Adam
    when ``scale_eps``); ``optimizer`` defaults to the one the rules were derived for."""
    name = optimizer or spec.rules.optimizer
    params = spec.tensors or dict(model.named_parameters())
    groups = []
    for p in spec.params:
        group = {"params": [params[p.name]], "lr": lr * p.lr_scale, "name": p.name}
        if name == "adam":
            group["eps"] = eps * (p.eps_scale if scale_eps else 1.0)
        groups.append(group)
    return make_optimizer(name, groups, lr, betas)
