"""The plan of :func:`~abcparam.torch.parametrize`: which tensor gets which multiplier, init, learning
rate, epsilon and weight decay, computed before any tensor changes.

With ``ratio = width / base_width`` each parameter of kind K gets (Everett et al. 2024's
``W = n^-a w`` form) multiplier ``ratio^-a_K``, init std ``sigma_K ratio^-b_K`` and the width
factors ``ratio^-c_K`` (LR), ``ratio^-eps_K`` (epsilon) and ``ratio^-wd_K`` (weight decay); with
depth rules the depth factors ``(L / base_depth)^-e`` join them (TP-VI; Dey et al. 2025).
``sigma_K`` is 1/sqrt(fan-in at the base width) for a matrix (fan-in counts a convolution's
kernel area), 1 for a lookup table (an ``nn.Embedding``), 0 for a bias and a unit gain for a
norm.  A tensor read under several kinds (tied weights) takes one rule from
:func:`abcparam.torch.tied.tied_rule`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import sympy
from torch import nn

from ..engine.rules import Rules, reparametrize
from .checkpoint import check_use
from .layers import ScaledEmbedding, ScaledLayerNorm, ScaledLinear
from .mapping import SCALAR, Mapped, named_parameters
from .shapes import layout
from .spec import ParamSpec, Use
from .tied import tied_rule

#: abcparam's own layers: they carry a multiplier as an attribute, not a torch parametrization
SCALED = (ScaledLinear, ScaledEmbedding, ScaledLayerNorm)


def _number(value, what: str) -> float:
    try:
        return float(value)
    except TypeError:
        raise ValueError(
            f"{what} = {value} is symbolic; derive the rules with a numeric "
            f"alignment to apply them to a model"
        ) from None


@dataclass
class TensorPlan:
    """One tensor's planned init (``mode``: normal / zero / fill / keep) and multipliers."""

    param: nn.Parameter
    spec: ParamSpec
    mode: str
    value: float
    # (module name, attribute, multiplier) per use
    targets: list[tuple[str, str, float]]
    #: the multipliers were moved into the weights (``parametrize(fold=...)``)
    folded: bool = False


def _rule(rules: Rules, kind: str):
    """The exponents (a, b, c, eps, wd) of ``kind``; a scalar-kind tensor scales with nothing."""
    if kind == SCALAR:
        zero = sympy.Integer(0)
        has_eps = rules["hidden"].eps is not None
        has_wd = getattr(rules["hidden"], "wd", None) is not None
        return zero, zero, zero, zero if has_eps else None, zero if has_wd else None
    r = rules[kind]
    return r.a, r.b, r.c, r.eps, getattr(r, "wd", None)


def _base_std(m: Mapped, module: nn.Module, attr: str, ratio: float = 0.0) -> tuple[str, float]:
    """Init at the base width: (mode, value); ``ratio`` given: no base shapes, so a width-growing
    fan-in (hidden, readout) is divided by it."""
    vector = len(m.shape) < 2
    if m.kind == "bias" or (vector and attr.endswith("bias")):
        return "zero", 0.0
    if m.kind == "norm":
        return "fill", 1.0
    if vector:
        return "keep", 1.0
    lay = layout(module, attr, len(m.shape), m.layout)
    assert lay is not None, f"a matrix parameter {attr!r} has a layout"
    if m.kind == "embedding" and lay.table:
        return "normal", 1.0
    fan_in: float = lay.fan_in_size(m.base_shape)
    if ratio and m.kind in ("hidden", "readout"):
        fan_in = fan_in / ratio
    return "normal", 1.0 / math.sqrt(fan_in)


@dataclass(frozen=True)
class Depth:
    """The residual blocks, their branch multiplier and the depth ratio L / base_depth."""

    ratio: float = 1.0
    blocks: tuple[str, ...] = ()
    branch_multiplier: float = 1.0

    def scale(self, rules: Rules, kind: str, name: str, which: str) -> float:
        """ratio^-e for the depth exponent ``which`` ("c", "eps", "wd") of parameter ``name``."""
        if self.ratio == 1.0 or not rules.has_depth or kind == SCALAR:
            return 1.0
        inside = any(name.startswith(block + ".") for block in self.blocks)
        table = getattr(rules[kind], "depth", {}) if inside else rules.outside_depth
        value = table.get(which)
        return 1.0 if value is None else self.ratio ** (-_number(value, f"depth {which}"))


def depth_plan(model: nn.Module, rules: Rules, base_depth: int | None) -> Depth:
    """Residual blocks are modules with a ``branch_multiplier``; without depth rules nothing
    changes."""
    blocks = tuple(n for n, m in model.named_modules() if hasattr(m, "branch_multiplier"))
    if not rules.has_depth:
        return Depth()
    if not blocks:
        raise ValueError(
            "these rules have depth exponents but the model has no residual blocks (modules "
            "with a branch_multiplier attribute); use rules without depth"
        )
    if base_depth is None or isinstance(base_depth, bool) or int(base_depth) < 1:
        raise ValueError(f"base_depth = {base_depth!r}: give the positive depth you tuned at")
    ratio = len(blocks) / int(base_depth)
    alpha = _number(rules.depth_alpha, "depth_alpha")
    return Depth(ratio, blocks, ratio ** (-alpha))


@dataclass
class _Uses:
    """One tensor's uses (the reference first) with their multipliers and base-width constants,
    its base init (mode, sigma), its exponents (b, c, eps, wd) and the reason."""

    names: list[str]
    kinds: list[str]
    mults: list[float]
    consts: list[float]
    mode: str
    sigma: float
    exponents: tuple[Any, Any, Any, Any]
    why: str
    first: Mapped


def _shared_tensors(
    model: nn.Module, mapped: dict[str, Mapped]
) -> list[tuple[nn.Parameter, list[str]]]:
    """Each mapped tensor once, with every name it is used under (tied weights: several)."""
    groups: dict[int, list[str]] = {}
    tensors: dict[int, nn.Parameter] = {}
    for name, param in named_parameters(model):
        if name in mapped:
            groups.setdefault(id(param), []).append(name)
            tensors[id(param)] = param
    return [(tensors[key], names) for key, names in groups.items()]


def _std_at(
    name: str, mapped: dict[str, Mapped], modules: dict, no_base: float
) -> tuple[str, float]:
    """:func:`_base_std` of the use ``name`` (``module.attr``)."""
    module_name, _, attr = name.rpartition(".")
    return _base_std(mapped[name], modules[module_name], attr, no_base)


def _single_use(own, names, mapped, modules, ratio, zero_readout, no_base) -> _Uses:
    """A tensor whose uses share one kind: that kind's exponents, multiplier ratio^-a each."""
    first = mapped[names[0]]
    kind = first.kind
    mode, sigma = _std_at(names[0], mapped, modules, no_base)
    a, b, c, eps, wd = (
        _num(v, kind, x) for v, x in zip(_rule(own, kind), ("a", "b", "c", "eps", "wd"))
    )
    if zero_readout and kind == "readout" and mode == "normal":
        mode, sigma = "zero", 0.0
    n = len(names)
    return _Uses(names, [kind] * n, [ratio ** (-a)] * n, [1.0] * n, mode, sigma, (b, c, eps, wd),
                 first.why, first)  # fmt: skip


def _tied_uses(own, names, mapped, modules, ratio, no_base) -> _Uses:
    """A tensor tied across kinds: the reference use's exponents, each other use's multiplier
    carrying its own base-width init over the tensor's."""
    kinds = [mapped[n].kind for n in names]
    tie = tied_rule(own, kinds, names)
    at = kinds.index(tie.reference)  # the reference use names the tensor
    names = [names[at]] + names[:at] + names[at + 1 :]
    kinds = [kinds[at]] + kinds[:at] + kinds[at + 1 :]
    mode, sigma = _std_at(names[0], mapped, modules, no_base)
    b, c, eps, wd = (_num(tie.shared[x], tie.reference, x) for x in ("b", "c", "eps", "wd"))
    mults, consts = [], []
    for n, k in zip(names, kinds):
        const = 1.0
        if k != tie.reference and sigma:  # base-width constant: this use's own init / the tensor's
            const = _std_at(n, mapped, modules, no_base)[1] / sigma
        consts.append(const)
        mults.append(const * ratio ** (-_num(tie.a[k], k, "a")))
    ref = mapped[names[0]]
    return _Uses(names, kinds, mults, consts, mode, sigma, (b, c, eps, wd), f"{ref.why}; {tie.why}",
                 ref)  # fmt: skip


def _param_spec(uses: _Uses, rules: Rules, ratio: float, depth: Depth) -> ParamSpec:
    """The tensor's :class:`ParamSpec`: init std and LR / eps / wd factors at this width."""
    b, c, eps, wd = uses.exponents
    kind, name = uses.first.kind, uses.names[0]

    def factor(exponent, which: str) -> float:
        return ratio ** (-exponent) * depth.scale(rules, kind, name, which)

    normal = uses.mode in ("normal", "fill")
    std = uses.sigma * ratio ** (-b) if normal else (0.0 if uses.mode == "zero" else None)
    return ParamSpec(
        name,
        kind,
        uses.mults[0],
        std,
        factor(c, "c"),
        factor(eps, "eps") if eps is not None else 1.0,
        factor(wd, "wd") if wd is not None else 1.0,
        uses.why,
        tuple(Use(*u) for u in zip(uses.names, uses.kinds, uses.mults, uses.consts)),
        eps is not None,
        wd is not None,
    )


def _fold_choice(rules: Rules, fold: bool | None) -> tuple[bool | None, Rules]:
    """(fold, the rules in no-multiplier coordinates)."""
    folded_rules = (
        reparametrize(rules, coordinates="no-multipliers") if fold is not False else rules
    )
    return fold, folded_rules


def plan_tensors(
    model,
    rules: Rules,
    mapped: dict[str, Mapped],
    ratio: float,
    zero_readout: bool,
    has_base: bool,
    depth: Depth = Depth(),
    fold: bool | None = False,
):
    modules = dict(model.named_modules(remove_duplicate=False))
    fold, folded_rules = _fold_choice(rules, fold)
    no_base = 0.0 if has_base else ratio
    plans = []
    for param, names in _shared_tensors(model, mapped):
        folded = fold is True or (
            fold is None
            and any(not isinstance(modules[n.rpartition(".")[0]], SCALED) for n in names)
        )
        own = folded_rules if folded else rules  # the exponents in the coordinates applied
        if len({mapped[n].kind for n in names}) == 1:
            uses = _single_use(own, names, mapped, modules, ratio, zero_readout, no_base)
        else:
            uses = _tied_uses(own, names, mapped, modules, ratio, no_base)
        spec = _param_spec(uses, rules, ratio, depth)
        targets = [
            (n.rpartition(".")[0], n.rpartition(".")[2], m) for n, m in zip(uses.names, uses.mults)
        ]
        if folded:  # a multiplier left after folding must be one a hook can carry
            for module_name, attr, m in targets:
                check_use(modules[module_name], attr, m)
        plans.append(TensorPlan(param, spec, uses.mode, spec.init_std or 0.0, targets, folded))
    return plans


def _num(value, kind: str, what: str):
    if value is None:
        return None
    return _number(value, f"{kind}.{what}")
