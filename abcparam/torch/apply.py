"""Apply derived rules to any torch model: init, forward multipliers, attention scale, LR groups.

With ``ratio = width / base_width`` (read off the shapes of the model and of the same factory at the
base width) each parameter of kind K gets (Everett et al. 2024's ``W = n^-a w`` form): multiplier
``ratio^-a_K``, init std ``sigma_K ratio^-b_K``, learning rate ``lr ratio^-c_K``, epsilon
``eps ratio^-eps_K`` and weight decay ``lambda ratio^-wd_K``.  At the base width every factor is 1:
the model is the one the user tuned, and the exponents carry it to any width (TP-V, muTransfer).
``sigma_K`` is 1/sqrt(fan-in at the base width) for a matrix (fan-in counts a convolution's kernel
area), 1 for a lookup table (an ``nn.Embedding``), 0 for a bias and a unit gain for a norm.

:func:`parametrize` plans everything first (kinds, tied tensors, attention scales) and changes no
tensor until the whole plan is valid; applying it again re-applies cleanly (multipliers are reset,
never stacked; the tensors are re-initialised).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard, cast

import sympy
import torch
import torch.nn.utils.parametrize as P
from torch import nn

from .. import validate
from ..engine.exponents import canonical_kind
from ..engine.optimizers import OPTIMIZERS, PerKind, canonical_name, get_optimizer
from ..engine.rules import Rules, reparametrize
from .attention import AttentionPlan, check_observed, observe_attention, plan_attention
from .constants import ConstantPlan, apply_constants, plan_constants
from .fold import (
    clear_views,
    final_norm,
    is_norm,
    query_target,
    same_outputs,
    symmetry_shift,
    traced_final_norm,
)
from .layers import ScaledEmbedding, ScaledLayerNorm, ScaledLinear
from .mapping import SCALAR, Mapped, infinite_dims, map_kinds, named_parameters
from .optim import (
    default_eps,
    group_eps,
    kind_optimizer,
    make_optimizer,
    torch_weight_decay,
)
from .shapes import layout, refuse_recurrent
from .tied import tied_rule
from .usage import raw_layouts

_SCALED = (ScaledLinear, ScaledEmbedding, ScaledLayerNorm)


@dataclass(frozen=True)
class Use:
    """One name under which a (possibly tied) tensor is read, with that use's multiplier."""

    name: str
    kind: str
    multiplier: float
    constant: float = 1.0  # the base-width constant inside ``multiplier`` (tied readout use)


@dataclass(frozen=True)
class ParamSpec:
    """What parametrize() did to one tensor: its kind, multiplier (of its first use), init std,
    and the width factors of its learning rate, epsilon and weight decay, and why."""

    name: str
    kind: str
    multiplier: float
    init_std: float | None
    lr_scale: float
    eps_scale: float
    wd_scale: float = 1.0
    why: str = ""
    uses: tuple[Use, ...] = ()
    has_eps: bool = True
    has_wd: bool = False


@dataclass
class Spec:
    """The parametrization of one model instance (what :func:`param_groups` and the coordinate
    check read)."""

    rules: Rules
    width: int | None
    base_width: int | None
    params: list[ParamSpec]
    tensors: dict[str, nn.Parameter] = field(default_factory=dict, repr=False)
    kinds: dict[str, str] = field(default_factory=dict)
    ratio: float = 1.0
    attention: list[AttentionPlan] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)
    #: multipliers the weights cannot absorb (``abcparam.torch.checkpoint``): tied uses,
    #: attention scales, residual branch multipliers; saved with the model, re-applied on load
    surviving: dict[str, dict] = field(default_factory=dict)
    #: architecture constants held at the base model's value (Gemma's embed_scale)
    constants: list[ConstantPlan] = field(default_factory=list)

    def param(self, name: str) -> ParamSpec:
        for p in self.params:
            if p.name == name or any(u.name == name for u in p.uses):
                return p
        names = [p.name for p in self.params]
        shown = ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")
        raise KeyError(f"no parameter {name!r} in this spec; accepted: {shown}")

    def table(self, lr: float | None = None, weight_decay: float = 0.0, eps: float | None = None):
        """Every parameter: kind, multiplier, init std, learning rate, epsilon, weight decay and
        why (factors ``x ratio^-e`` when ``lr`` / ``eps`` are not given)."""
        return _table(self, lr, weight_decay, eps)


class _Multiplier(nn.Module):
    """weight -> m * weight (torch parametrize), for modules that are not abcparam's own; with
    ``rows``/``factor`` the first ``rows`` rows get ``m * factor`` (MultiheadAttention's query)."""

    def __init__(self, m: float, rows: int = 0, factor: float = 1.0) -> None:
        super().__init__()
        self.m, self.rows, self.factor = m, rows, factor

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if not self.rows or self.factor == 1.0:
            return w * self.m
        return torch.cat([w[: self.rows] * (self.m * self.factor), w[self.rows :] * self.m])


def _number(value, what: str) -> float:
    try:
        return float(value)
    except TypeError:
        raise ValueError(
            f"{what} = {value} is symbolic; derive the rules with a numeric "
            f"alignment to apply them to a model"
        ) from None


def _width_of(model: nn.Module) -> int | None:
    value = getattr(model, "width", None)
    if isinstance(value, int):
        return value
    config = getattr(model, "config", None)
    for attr in ("hidden_size", "n_embd", "d_model"):
        value = getattr(config, attr, None)
        if isinstance(value, int):
            return value
    return None


@dataclass
class _Plan:
    """One tensor's planned init (``mode``: normal / zero / fill / keep) and multipliers."""

    param: nn.Parameter
    spec: ParamSpec
    mode: str
    value: float
    # (module name, attribute, multiplier) per use
    targets: list[tuple[str, str, float]]
    #: the multipliers were moved into the weights (``parametrize(fold=...)``)
    folded: bool = False


def _rule(rules, kind: str):
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


def _self_describing(model: nn.Module) -> bool:
    """Every trainable parameter sits in a layer that states its kind (the built-in models)."""
    return all(
        getattr(m, "abc_kind", None) is not None or isinstance(m, ScaledLayerNorm)
        for m in model.modules()
        if any(p.requires_grad for p in m.parameters(recurse=False))
    )


def _resolve_base(model, base, width, delta):
    """(base model, delta model or None, base width) from ``base`` (a model, or an int base width
    for the built-in models, which rebuild themselves)."""
    if base is None:
        raise ValueError(
            "parametrize needs the base model: pass base=make(base_width) (the same factory at "
            "the width the hyperparameters were tuned at), or base=<int> for the built-in models"
        )
    if isinstance(base, bool) or not isinstance(base, (int, nn.Module)):
        raise TypeError(f"base must be an nn.Module (or an int for built-in models); got {base!r}")
    if isinstance(base, int):
        if base < 1:
            raise ValueError(f"base width = {base}: need a positive int")
        if not hasattr(model, "at_width"):
            raise ValueError(
                f"base_width={base} works for the built-in models only; for a "
                f"{type(model).__name__} pass base=make({base}), the same factory at that width"
            )
        if _self_describing(model):  # kinds from abc_kind, head sizes from the ratio
            return None, None, base
        base_model = model.at_width(base)
        if delta is None and base == _width_of(model):
            delta = model.at_width(2 * base)
        return base_model, delta, base
    return base, delta, _width_of(base)


def _ratio(dims, model_width, base_width) -> float:
    ratios: dict[float, str] = {}
    for name, (shape, b_shape, inf) in dims.items():
        for i in inf:
            if b_shape[i] > 0:
                ratios.setdefault(round(shape[i] / b_shape[i], 9), name)
    if len(ratios) > 1:
        found = ", ".join(f"{r:g} ({n})" for r, n in ratios.items())
        raise ValueError(
            f"the width-growing dimensions grow by different factors between the base and the "
            f"model: {found}; build every width-n dimension as a fixed multiple of the width"
        )
    if ratios:
        return next(iter(ratios))
    if model_width and base_width:
        return model_width / base_width
    return 1.0


def parametrize(
    model: nn.Module,
    rules,
    base: nn.Module | int | None = None,
    width: int | None = None,
    layer_map: Mapping[str, str] | None = None,
    zero_readout: bool = False,
    seed: int | None = None,
    *,
    base_width: int | None = None,
    delta: nn.Module | None = None,
    ignore_attention: Sequence[str] = (),
    example_batch: Any = None,
    base_depth: int | None = None,
    fold: bool | None = None,
    init: bool = True,
) -> Spec:
    """Initialise ``model`` and set its multipliers and attention scale from ``rules``.

    ``base``: the same factory at the base width (``make(base_width)``; the ``meta`` device is
    enough, only shapes and attention scales are read), or, for the built-in models, the base
    width as an int (``base_width=`` is its older spelling).  Layer kinds come from the shapes
    that differ between the two (a ``delta`` model at a third width is needed when ``model`` is
    built at the base width itself).  ``width`` (optional) is checked against the model's own.
    Tied tensors follow :func:`abcparam.torch.tied.tied_rule`; attention modules
    :mod:`abcparam.torch.attention`; with ``example_batch`` one forward pass also catches any
    ``scaled_dot_product_attention`` call whose scale no plan reaches.  Nothing is changed unless
    every step of the plan is valid.  With depth rules (``base_depth``: the depth tuned at) every
    residual block (a module with a ``branch_multiplier``) gets ``(L / base_depth)^-alpha`` and
    each parameter's LR / epsilon the depth factors ``(L / base_depth)^-c_L`` /
    ``^-eps_L`` (the in-block exponents inside a block, ``rules.outside_depth`` elsewhere).

    ``fold``: move each tensor's multiplier ``n^-a`` into its weights along the abc-symmetry (the
    engine's ``reparametrize(rules, coordinates="no-multipliers")``: init, LR, epsilon and decay
    shift with it; TP-V Lemma J.1), so that the state_dict holds the tensors the model's own code
    reads.  None (default): fold wherever the multiplier would otherwise be a torch
    parametrization (any layer that is not abcparam's own ``Scaled*``, which carry it as an
    attribute); True: fold those too; False: keep every multiplier (torch parametrizations).
    The attention scale goes into the query projection or its q-norm and a tied readout's
    multiplier into the final norm feeding it, where one tensor can carry them
    (:mod:`abcparam.torch.fold`).  What cannot be folded (a fused qkv's attention scale, a tied
    readout with no such norm, a residual branch multiplier) is ``Spec.surviving``, saved with
    the model (:mod:`abcparam.torch.checkpoint`; plain loading then raises).
    ``init=False`` leaves the tensors as they are (a model loaded from a checkpoint, to get its
    spec and optimizer groups back) and sets only the multipliers and scales.
    """
    base = _checked_arguments(rules, fold, base, base_width)
    refuse_recurrent(model)
    model_width = _checked_width(model, width)
    base_model, delta, base_w = _resolve_base(model, base, width, delta)
    width = width or model_width
    if base_model is None and width is None:
        raise ValueError(f"this {type(model).__name__} has no .width attribute: pass width=")
    mapped, dims = _mapped_kinds(model, base_model, delta, layer_map, example_batch)
    ratio, width, base_w = _widths(dims, mapped, width, base_w)
    depth = _depth_plan(model, rules, base_depth)
    plans = _plan(model, rules, mapped, ratio, zero_readout, base_model is not None, depth, fold)
    attention = plan_attention(model, base_model, rules, ratio, ignore_attention)
    attention, views = _fold_scales(model, rules, plans, attention, fold, example_batch)
    constants = plan_constants(model, base_model)
    if example_batch is not None:  # attention calls the module scan cannot see
        check_observed(observe_attention(model, example_batch), attention, rules)
    # -- every check passed: change the model -------------------------------------------------
    _apply(model, plans, attention, seed, init)
    clear_views(model, views)
    apply_constants(model, constants)
    surviving = _set_depth_and_surviving(model, plans, attention, depth, fold)
    frozen = [n for n, p in named_parameters(model) if not p.requires_grad]
    tensors = {p.spec.name: p.param for p in plans}
    kinds = {name: m.kind for name, m in mapped.items()}
    params = [p.spec for p in plans]
    return Spec(rules, width, base_w, params, tensors, kinds, ratio, attention, frozen, surviving,
                constants)  # fmt: skip


def _fold_scales(model, rules, plans, attention, fold, example_batch):
    """(attention plans, weight views): the attention and tied-readout scales that one tensor
    can carry moved into it (``fold`` not False, engine rules)."""
    views: dict[str, tuple[float, float]] = {}
    if fold is not False and isinstance(rules, Rules):
        attention = _fold_attention(model, rules, plans, attention, views)
        _fold_readout(model, rules, plans, views, example_batch)
    return attention, views


def _checked_arguments(rules, fold, base, base_width):
    """``base`` (``base_width=`` folded in) once ``fold`` and ``rules`` are of the accepted kinds."""
    if fold is not None and not isinstance(fold, bool):
        raise ValueError(f"fold = {fold!r}: accepted True, False or None (fold foreign layers)")
    if base_width is not None:
        if base is not None:
            raise ValueError("give base= or base_width=, not both")
        base = base_width
    if not hasattr(rules, "layers") or not hasattr(rules, "attention_logit_exponent"):
        hint = (
            f"; for a scheme name use abcparam.rules({rules!r})" if isinstance(rules, str) else ""
        )
        raise TypeError(f"rules must be abcparam.rules(...) or derive(...); got {rules!r}{hint}")
    return base


def _checked_width(model: nn.Module, width: int | None) -> int | None:
    """The model's own width, once a given ``width`` is a positive int that agrees with it."""
    model_width = _width_of(model)
    if width is not None:
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise ValueError(f"width = {width!r}: need a positive int")
        if model_width is not None and width != model_width:
            raise ValueError(
                f"width = {width} given, but this {type(model).__name__} is built at width "
                f"{model_width}: pass the model built at {width}, or drop width="
            )
    return model_width


def _mapped_kinds(model, base_model, delta, layer_map, example_batch):
    """(parameter name -> Mapped kind, the width-growing dimensions against the base)."""
    dims = infinite_dims(model, base_model, delta) if base_model is not None else {}
    if dims and not any(inf for _, _, inf in dims.values()) and not layer_map:
        raise ValueError(
            "no parameter changes shape between the base and the model (is the base built at "
            "the same width, or does the factory ignore the width?): pass delta=make(w) at "
            "another width so that the width-growing dimensions can be told apart"
        )
    layouts = raw_layouts(model, example_batch) if example_batch is not None else None
    mapped = map_kinds(model, base_model, layer_map, delta, layouts, assume_raw=False)
    if not mapped:
        raise ValueError(
            f"{type(model).__name__} has no trainable parameters (all requires_grad=False): "
            f"nothing to parametrize; unfreeze the parameters to train"
        )
    return mapped, dims


def _widths(dims, mapped, width, base_w) -> tuple[float, int | None, int | None]:
    """(width ratio, width, base width), each filled in from the others and checked to agree."""
    ratio = _ratio({n: dims[n] for n in mapped if n in dims}, width, base_w)
    if width and base_w and not math.isclose(width / base_w, ratio, rel_tol=1e-6):
        raise ValueError(
            f"width {width} / base width {base_w} = {width / base_w:g}, but the model's "
            f"width-growing dimensions are {ratio:g} x the base's: the model, base and width "
            f"do not match"
        )
    if width is None and base_w is not None:
        width = round(base_w * ratio)
    if base_w is None and width is not None:
        base_w = round(width / ratio)
    return ratio, width, base_w


def _set_depth_and_surviving(model, plans, attention, depth, fold) -> dict:
    """Each residual block's branch multiplier set; the multipliers no tensor carries (``fold``)
    written into the config and attached to the model; returns them."""
    from .checkpoint import attach, into_config, surviving_of

    modules = dict(model.named_modules(remove_duplicate=False))
    for block in depth.blocks:
        modules[block].branch_multiplier = depth.branch_multiplier
    surviving = (
        into_config(model, surviving_of(model, plans, attention, depth))
        if fold is not False
        else {}
    )
    attach(model, surviving)
    return surviving


@dataclass(frozen=True)
class _Depth:
    """The residual blocks, their branch multiplier and the depth ratio L / base_depth."""

    ratio: float = 1.0
    blocks: tuple[str, ...] = ()
    branch_multiplier: float = 1.0

    def scale(self, rules, kind: str, name: str, which: str) -> float:
        """ratio^-e for the depth exponent ``which`` ("c", "eps", "wd") of parameter ``name``."""
        if self.ratio == 1.0 or not getattr(rules, "has_depth", False) or kind == SCALAR:
            return 1.0
        inside = any(name.startswith(block + ".") for block in self.blocks)
        table = getattr(rules[kind], "depth", {}) if inside else rules.outside_depth
        value = table.get(which)
        return 1.0 if value is None else self.ratio ** (-_number(value, f"depth {which}"))


def _depth_plan(model: nn.Module, rules, base_depth: int | None) -> _Depth:
    """Residual blocks are modules with a ``branch_multiplier``; without depth rules nothing
    changes."""
    blocks = tuple(n for n, m in model.named_modules() if hasattr(m, "branch_multiplier"))
    if not getattr(rules, "has_depth", False):
        return _Depth()
    if not blocks:
        raise ValueError(
            "these rules have depth exponents but the model has no residual blocks (modules "
            "with a branch_multiplier attribute); use rules without depth"
        )
    if base_depth is None or isinstance(base_depth, bool) or int(base_depth) < 1:
        raise ValueError(f"base_depth = {base_depth!r}: give the positive depth you tuned at")
    ratio = len(blocks) / int(base_depth)
    alpha = _number(rules.depth_alpha, "depth_alpha")
    return _Depth(ratio, blocks, ratio ** (-alpha))


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


def _param_spec(uses: _Uses, rules, ratio: float, depth: _Depth) -> ParamSpec:
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


def _fold_choice(rules, fold: bool | None):
    """(fold, the rules in no-multiplier coordinates): a duck-typed rules object cannot fold."""
    if fold is True and not isinstance(rules, Rules):
        raise TypeError(f"fold=True needs abcparam.rules(...) or derive(...); got {rules!r}")
    if not isinstance(rules, Rules):  # a duck-typed rules object: the engine cannot shift it
        fold = False
    folded_rules = (
        reparametrize(rules, coordinates="no-multipliers") if fold is not False else rules
    )
    return fold, folded_rules


def _plan(
    model,
    rules,
    mapped: dict[str, Mapped],
    ratio: float,
    zero_readout: bool,
    has_base: bool,
    depth: _Depth = _Depth(),
    fold: bool | None = False,
):
    modules = dict(model.named_modules(remove_duplicate=False))
    fold, folded_rules = _fold_choice(rules, fold)
    no_base = 0.0 if has_base else ratio
    plans = []
    for param, names in _shared_tensors(model, mapped):
        folded = fold is True or (
            fold is None
            and any(not isinstance(modules[n.rpartition(".")[0]], _SCALED) for n in names)
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
            from .checkpoint import check_use

            for module_name, attr, m in targets:
                check_use(modules[module_name], attr, m)
        plans.append(_Plan(param, spec, uses.mode, spec.init_std or 0.0, targets, folded))
    return plans


def _own_fields(model: nn.Module) -> bool:
    """The architecture's config has fields for these multipliers (Granite): keep them there."""
    from .checkpoint import CONFIG_FIELDS

    return getattr(getattr(model, "config", None), "model_type", None) in CONFIG_FIELDS


def _shift(plan: _Plan, rules: Rules, factor: float, why: str) -> None:
    """Move ``factor`` into the plan's tensor along the abc-symmetry (init, LR, eps, decay)."""
    plan.spec = symmetry_shift(plan.spec, rules, factor, why)
    plan.value = plan.spec.init_std or 0.0


def _foldable(plans: list[_Plan | None]) -> TypeGuard[list[_Plan]]:
    """Tensors that can take a factor: planned, folded, read once, initialised by the plan."""
    return all(
        p is not None and p.folded and len(p.targets) == 1 and p.mode in ("normal", "fill", "zero")
        for p in plans
    )


def _fold_attention(model, rules: Rules, plans: list[_Plan], attention, views) -> list:
    """Each attention scale the module's own cannot give, moved into its query projection or
    q-norm (``abcparam.torch.fold``) where one tensor can carry it; the others are kept."""
    if _own_fields(model):
        return attention
    modules = dict(model.named_modules())
    by_target = {(mn, at): pl for pl in plans for mn, at, _ in pl.targets}
    out = []
    for a in attention:
        module = modules[a.name]
        own = module.__dict__.get("_abcparam_own", {}).get(a.attr, getattr(module, a.attr, None))
        if a.attr == "q_rows" or not isinstance(own, (int, float)) or not own:
            out.append(a)
            continue
        factor = a.value / float(own)
        target, attrs = query_target(a.name, module, a.head_dim)
        chosen = [by_target.get((target, at)) for at in attrs]
        if math.isclose(factor, 1.0, rel_tol=1e-12) or not target or not _foldable(chosen):
            out.append(a)
            continue
        why = (
            f"the attention scale {a.value:.4g} (d_head^-{rules.attention_logit_exponent}) over "
            f"the module's own {float(own):.4g} folded in: x {factor:.4g}"
        )
        for plan in chosen:
            _shift(plan, rules, factor, why)
        if not is_norm(modules[target]):
            views[target] = (1.0 / factor, 1.0)  # the recorder reads q_proj before the factor
        out.append(dataclasses.replace(a, folded_into=target, factor=factor))
    return out


def _fold_readout(model, rules: Rules, plans: list[_Plan], views, example_batch=None) -> None:
    """A tied readout use's multiplier moved into the final norm's gain (and bias) when that norm
    feeds nothing but the readout (``abcparam.torch.fold.final_norm`` for a Hugging Face LM head
    model; any model with ``example_batch``: found and checked in a forward pass)."""
    if _own_fields(model):
        return
    modules = dict(model.named_modules())
    by_target = {(mn, at): pl for pl in plans for mn, at, _ in pl.targets}
    for plan in plans:
        if not plan.folded or len(plan.targets) < 2:
            continue
        scaled = [i for i, (_, _, m) in enumerate(plan.targets) if not math.isclose(m, 1.0)]
        if len(scaled) != 1 or plan.targets[scaled[0]][1] != "weight":
            continue
        i = scaled[0]
        head, attr, m = plan.targets[i]
        norm = final_norm(model, head)
        if example_batch is not None:
            if not norm:
                norm = traced_final_norm(model, head, m, example_batch)
            elif not same_outputs(model, head, norm, m, example_batch):
                norm = ""
        if not norm:
            continue
        attrs = [
            a
            for a in ("weight", "bias")
            if isinstance(getattr(modules[norm], a, None), nn.Parameter)
        ]
        chosen = [by_target.get((norm, a)) for a in attrs]
        if not _foldable(chosen):
            continue
        why = f"the tied readout use's multiplier {m:.4g} folded in ({head} reads only this norm)"
        for target in chosen:
            _shift(target, rules, m, why)
        plan.targets[i] = (head, attr, 1.0)
        uses = list(plan.spec.uses)
        uses[i] = dataclasses.replace(uses[i], multiplier=1.0, constant=1.0)
        plan.spec = dataclasses.replace(
            plan.spec, uses=tuple(uses), why=f"{plan.spec.why}; readout multiplier in {norm}"
        )
        views[head] = (m, 1.0 / m)  # the recorder reads the readout with its multiplier


def _num(value, kind: str, what: str):
    if value is None:
        return None
    return _number(value, f"{kind}.{what}")


def _set_multiplier(
    module: nn.Module,
    attr: str,
    m: float,
    rows: int = 0,
    factor: float = 1.0,
    folded: bool = False,
):
    from .checkpoint import remove_multiplier, set_use_multiplier

    if folded and not (rows and factor != 1.0):
        if isinstance(module, _SCALED):
            setattr(module, "multiplier" if attr == "weight" else "bias_multiplier", m)
            return
        remove_multiplier(module, attr)  # a multiplier left by an earlier fold=False
        set_use_multiplier(module, attr, m)  # 1.0 removes it
        return
    if isinstance(module, _SCALED) and not rows:
        setattr(module, "multiplier" if attr == "weight" else "bias_multiplier", m)
        return
    if P.is_parametrized(module, attr):
        chain = cast(dict[str, nn.ModuleList], module.parametrizations)[attr]
        ours = [p for p in chain if isinstance(p, _Multiplier)]
        if ours:
            ours[0].m, ours[0].rows, ours[0].factor = m, rows, factor
            return
    if m == 1.0 and factor == 1.0:
        return
    P.register_parametrization(module, attr, _Multiplier(m, rows, factor))


def _apply(
    model: nn.Module, plans: list[_Plan], attention: list[AttentionPlan], seed, init: bool = True
) -> None:
    modules = dict(model.named_modules(remove_duplicate=False))
    generators: dict[torch.device, torch.Generator] = {}
    q_rows = {a.name: a for a in attention if a.attr == "q_rows"}
    with torch.no_grad():
        for plan in plans if init else []:
            p = plan.param
            if plan.mode == "normal":
                gen = None
                if seed is not None:
                    if p.device not in generators:
                        generators[p.device] = torch.Generator(device=p.device).manual_seed(seed)
                    gen = generators[p.device]
                p.normal_(0.0, plan.value, generator=gen)
            elif plan.mode == "zero":
                p.zero_()
            elif plan.mode == "fill":
                p.fill_(plan.value)
    for plan in plans:
        for module_name, attr, m in plan.targets:
            module = modules[module_name]
            rows, factor = 0, 1.0
            if module_name in q_rows and attr in (
                "in_proj_weight",
                "in_proj_bias",
                "q_proj_weight",
            ):
                if attr != "q_proj_weight":
                    rows = module.embed_dim
                    factor = q_rows[module_name].value
                else:
                    rows, factor = module.embed_dim, q_rows[module_name].value
            _set_multiplier(module, attr, m, rows, factor, plan.folded)
    for a in attention:
        module = modules[a.name]
        if a.attr == "q_rows":
            # a q projection with no trainable weight in the plan still needs the factor
            for attr in ("in_proj_weight", "q_proj_weight", "in_proj_bias"):
                t = getattr(module, attr, None)
                planned = any(
                    mn == a.name and at == attr for pl in plans for mn, at, _ in pl.targets
                )
                if t is not None and not planned:
                    _set_multiplier(module, attr, 1.0, module.embed_dim, a.value)
        elif a.folded_into:  # the module keeps (or gets back) its own scale
            own = module.__dict__.get("_abcparam_own", {}).pop(a.attr, None)
            if own is not None:
                setattr(module, a.attr, own)
        else:
            own = module.__dict__.setdefault("_abcparam_own", {})
            own.setdefault(a.attr, getattr(module, a.attr))  # the module's own scale, kept once
            setattr(module, a.attr, a.value)


# -- optimizer groups ----------------------------------------------------------------------------


def _engine_has_eps(name: str) -> bool:
    """Whether the engine derives an epsilon exponent for this optimizer (Adam, AdamW,
    Adafactor); names the engine does not know (e.g. a torch class it has no model for) get
    their epsilon unscaled."""
    try:
        single = OPTIMIZERS.get(canonical_name(name))  # "muon" is Muon here, not its plan
        return bool((single or get_optimizer(name)).has_eps)
    except ValueError:
        return False


def _torch_weight_decay(name: str, lam: float, lr: float, independent: bool) -> float:
    """torch's ``weight_decay`` realising decay ``lam`` (already times n^-wd): the engine's
    optimizer model says how, where it knows (coupled vs independent, decoupled or L2); else
    torch's coupled ``p (1 - lr lam)``, divided by ``lr`` for "independent" decay."""
    try:
        model = get_optimizer(name)
    except ValueError:
        return lam / lr if independent and lr > 0 else lam
    convention = "independent" if independent else "coupled"
    return float(torch_weight_decay(model, lam, lr, convention))


def _kind_optimizer(rules: Rules, kind: str) -> str:
    """The optimizer the rules derive ``kind`` for (per-kind plans such as Muon on hidden
    matrices and AdamW elsewhere; a kind no rule covers, a fixed-size scalar, takes the plan's
    default), else the rules' one optimizer."""
    if kind in rules.optimizers:
        return rules.optimizers[kind].lower()
    return kind_optimizer(get_optimizer(rules.optimizer), kind)


def _optimizer_name(optimizer, spec: Spec) -> str:
    if optimizer is None:
        return str(spec.rules.optimizer)
    if isinstance(optimizer, type):
        return optimizer.__name__.lower()
    return str(optimizer).lower()


def _per_kind(value, kind: str, what: str) -> float:
    if isinstance(value, Mapping):
        if kind in value:
            return float(value[kind])
        if "default" in value:
            return float(value["default"])
        raise ValueError(f"{what} has no entry for kind {kind!r} and no 'default': {dict(value)}")
    return float(value)


#: name prefixes wrappers put before a module's own names (DDP, torch.compile, FSDP1, checkpointing)
_WRAPPERS = re.compile(
    r"^module\.|(^|\.)(_orig_mod|_fsdp_wrapped_module|_checkpoint_wrapped_module)\."
)


def _unwrapped(name: str) -> str:
    """A parameter's name inside the model parametrize() saw, with wrapper prefixes removed."""
    while True:
        short = _WRAPPERS.sub(lambda m: m.group(1) or "", name)
        if short == name:
            return name
        name = short


def _current_tensors(model: nn.Module, spec: Spec) -> dict[str, nn.Parameter]:
    """Each spec tensor as ``model`` holds it now: the same object, or, after a wrapper replaced
    it (FSDP2's ``fully_shard`` makes DTensor parameters), the parameter of the same name (DDP,
    compile and FSDP prefixes stripped) and the same global shape."""
    found = named_parameters(model)
    ids = {id(q) for _, q in found}
    by_name: dict[str, nn.Parameter] = {}
    for n, param in found:
        by_name.setdefault(_unwrapped(n), param)
    tensors: dict[str, nn.Parameter] = {}
    for p in spec.params:
        t = spec.tensors[p.name]
        if id(t) in ids:
            tensors[p.name] = t
            continue
        now = next((by_name[u.name] for u in p.uses if u.name in by_name), by_name.get(p.name))
        if now is None or tuple(now.shape) != tuple(t.shape):
            raise ValueError(
                f"this spec was made for another model ({p.name!r} is not a parameter of this "
                f"one): pass the model parametrize() was called on (or that model wrapped by "
                f"DDP, FSDP or torch.compile after parametrize)"
            )
        tensors[p.name] = now
    return tensors


def _rates(value, what: str, allow_zero: bool = False):
    """A learning rate or weight decay checked: a finite number > 0 (>= 0 with ``allow_zero``),
    or a mapping from layer kinds (aliases allowed, each kind once) or "default" to such numbers;
    a misspelled kind names the accepted ones instead of silently taking the default."""
    if not isinstance(value, Mapping):
        return validate.positive_float(value, what, allow_zero=allow_zero)
    out: dict[str, float] = {}
    for key, number in value.items():
        kind = key if key in ("default", SCALAR) else canonical_kind(key)
        if kind in out:
            raise ValueError(f"{what} = {dict(value)} gives the {kind} kind twice; give it once")
        out[kind] = validate.positive_float(number, f"{what}[{key!r}]", allow_zero=allow_zero)
    return out


def param_groups(
    model: nn.Module,
    spec: Spec,
    lr: float | Mapping[str, float],
    weight_decay: float | Mapping[str, float] = 0.0,
    eps: float | None = None,
    *,
    optimizer: str | type | None = None,
    kinds: Sequence[str] | None = None,
) -> list[dict]:
    """Torch param groups carrying the rules' width factors, merged by identical settings:
    ``lr * ratio^-c``, ``weight_decay * ratio^-wd`` (when the rules derive a weight-decay exponent)
    and ``eps * ratio^-eps`` (Adam, AdamW: ``eps``; Adafactor: ``eps=(eps1, 1e-3)``, eps1 scaled);
    ``eps=None`` scales the optimizer's default.  Rules derived with ``weight_decay=
    "independent"`` (``p <- p (1 - lambda)``) get ``weight_decay / lr`` per group, since torch's
    decay is coupled to the learning rate.  Each group also names its ``optimizer`` (the engine's
    name; groups never mix optimizers, so a per-kind plan such as Muon + AdamW splits by it) and
    its layer ``kinds``.  ``optimizer`` (a name or torch class, default the
    rules') sets the epsilon's form; ``kinds`` keeps only some layer kinds (e.g. ``("hidden",)``
    for Muon, which takes matrices).  Usable with any torch optimizer: ``torch.optim.AdamW(
    param_groups(model, spec, lr=3e-3, weight_decay=0.1))``."""
    if not isinstance(spec, Spec):
        raise TypeError(f"spec must be the Spec parametrize() returned; got {type(spec).__name__}")
    lr, weight_decay = _rates(lr, "lr"), _rates(weight_decay, "weight_decay", allow_zero=True)
    if eps is not None and not isinstance(eps, tuple):
        eps = validate.positive_float(eps, "eps")
    tensors = _current_tensors(model, spec)
    given = None if optimizer is None else _optimizer_name(optimizer, spec)
    # "independent" decay p <- p (1 - lambda) through torch's coupled p <- p (1 - lr lambda)
    independent = getattr(spec.rules, "weight_decay", None) == "independent"
    if kinds is not None:
        wanted = set(kinds)
        bad = wanted - {p.kind for p in spec.params} - set(spec.rules.kinds) - {SCALAR}
        if bad:
            raise ValueError(
                f"kinds {sorted(bad)} unknown; accepted: {', '.join(spec.rules.kinds)}, {SCALAR}"
            )
    merged: dict[tuple, dict] = {}
    for p in spec.params:
        if kinds is not None and p.kind not in wanted:
            continue
        name = given or _kind_optimizer(spec.rules, p.kind)
        group_lr = _per_kind(lr, p.kind, "lr") * p.lr_scale
        group_wd = _torch_weight_decay(
            name,
            _per_kind(weight_decay, p.kind, "weight_decay") * p.wd_scale,
            group_lr,
            independent,
        )
        group: dict[str, Any] = {"lr": group_lr, "weight_decay": group_wd, "optimizer": name}
        if _engine_has_eps(name):
            base_eps = eps if eps is not None else default_eps(name)
            group["eps"] = group_eps(name, base_eps * (p.eps_scale if p.has_eps else 1.0))
        elif eps is not None:
            group["eps"] = eps
        key = tuple(sorted((k, str(v)) for k, v in group.items()))
        if key not in merged:
            merged[key] = {"params": [], "param_names": [], "kinds": [], **group}
        merged[key]["params"].append(tensors[p.name])
        merged[key]["param_names"].append(p.name)
        if p.kind not in merged[key]["kinds"]:
            merged[key]["kinds"].append(p.kind)
    if not merged:
        raise ValueError(f"no trainable parameter of kinds {list(kinds or [])} in this spec")
    return list(merged.values())


def build_optimizer(
    model: nn.Module,
    spec: Spec,
    optimizer: str | None = None,
    lr: float | Mapping[str, float] = 1e-3,
    eps: float = 1e-8,
    betas: tuple[float, float] = (0.9, 0.999),
    scale_eps: bool = True,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """An optimizer over :func:`param_groups`; ``optimizer`` defaults to the one the rules were
    derived for (any name in the engine's ``OPTIMIZERS``, or a per-kind plan such as
    "hidden=muon,default=adamw", which gives one torch optimizer per distinct optimizer, stepped
    together as an :class:`~abcparam.torch.optim.OptimizerList`)."""
    name = (optimizer or spec.rules.optimizer).lower()
    plan = get_optimizer(name)
    runs: dict[str, list[str] | None] = {name: None}
    if isinstance(plan, PerKind):  # one torch optimizer per distinct optimizer of the plan
        split: dict[str, list[str]] = {}
        for kind in dict.fromkeys(p.kind for p in spec.params):
            split.setdefault(kind_optimizer(plan, kind), []).append(kind)
        runs = dict(split)
    groups = []
    for own, kinds in runs.items():
        mine = param_groups(model, spec, lr, weight_decay, eps, optimizer=own, kinds=kinds)
        if not scale_eps:
            for g in mine:
                if "eps" in g:
                    g["eps"] = group_eps(own, eps)
        groups += mine
    default_lr = float(lr if not isinstance(lr, Mapping) else groups[0]["lr"])
    return make_optimizer(name, groups, default_lr, betas)


# -- the table -----------------------------------------------------------------------------------


def _factor(x: float, ratio: float, constant: float = 1.0) -> str:
    """``x`` with its width factor: 0.707 (r^-1/2); a base-width constant shown apart."""
    if ratio == 1.0 or x <= 0:
        return f"{x:.3g}"
    e = math.log(x / constant) / math.log(ratio)
    exp = sympy.Rational(e).limit_denominator(12)
    if abs(float(exp) - e) > 1e-6 or exp == 0:
        return f"{x:.3g}"
    head = f"{x:.3g} = {constant:.3g} r^{exp}" if constant != 1.0 else f"{x:.3g} (r^{exp})"
    return head


def _table(spec: Spec, lr, weight_decay, eps) -> str:
    r = spec.ratio
    head = (
        f"{spec.rules.title()} — width {spec.width}, base width {spec.base_width}, "
        f"r = width/base = {r:g}"
    )
    rows = [
        head,
        "",
        "| parameter | kind | multiplier | init std | lr | eps | wd | why |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in spec.params:
        mult = (
            ", ".join(f"{u.kind} {_factor(u.multiplier, r, u.constant)}" for u in p.uses)
            if len(p.uses) > 1
            else _factor(p.multiplier, r)
        )
        std = "kept" if p.init_std is None else f"{p.init_std:.3g}"
        lr_s = _factor(p.lr_scale * (lr if lr is not None else 1.0), r)
        lr_s = lr_s if lr is not None else f"x {lr_s}"
        if not p.has_eps:
            eps_s = "—"
        else:
            eps_s = _factor(p.eps_scale * (eps if eps is not None else 1.0), r)
            eps_s = eps_s if eps is not None else f"x {eps_s}"
        wd_s = (
            (f"x {_factor(p.wd_scale, r)}" if p.has_wd else "x 1 (no exponent derived)")
            if not weight_decay
            else _factor(weight_decay * p.wd_scale, r)
        )
        names = " = ".join(u.name for u in p.uses) if len(p.uses) > 1 else p.name
        rows.append(
            f"| {names} | {p.kind} | {mult} | {std} | {lr_s} | {eps_s} | {wd_s} | {p.why} |"
        )
    for a in spec.attention:
        what = "query multiplier" if a.attr == "q_rows" else a.attr
        if a.folded_into:
            what = f"folded into {a.folded_into} (x {a.factor:.4g}): {a.attr}"
        rows.append(
            f"| {a.name} (attention) | — | {what} {a.value:.4g} | — | — | — | — | logits "
            f"q.k d_head^-{spec.rules.attention_logit_exponent}, head size {a.base_head_dim} "
            f"-> {a.head_dim} |"
        )
    for c in spec.constants:
        rows.append(
            f"| {c.name}.{c.attr} (constant) | — | {c.base_value:.4g} (was {c.value:.4g}) | — | — "
            f"| — | — | the architecture's own width-dependent constant, held at the base value |"
        )
    for n in spec.frozen:
        rows.append(f"| {n} | frozen | — | untouched | — | — | — | requires_grad=False |")
    rows.append("")
    rows.append(
        f"r^e marks a width factor (r = {r:g}); exponents: "
        + "; ".join(
            f"{k}: a={spec.rules[k].a}, b={spec.rules[k].b}, c={spec.rules[k].c}"
            for k in spec.rules.kinds
        )
    )
    return "\n".join(rows)
