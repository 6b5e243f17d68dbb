"""Apply derived rules to any torch model: init, forward multipliers, attention scale.

``ratio = width / base_width`` is read off the shapes of the model and of the same factory at the
base width (:mod:`abcparam.torch.widths`); :mod:`abcparam.torch.plan` turns it into each tensor's multiplier, init and width
factors (Everett et al. 2024's ``W = n^-a w`` form).  At the base width every factor is 1: the
model is the one the user tuned, and the exponents carry it to any width (TP-V, muTransfer).
The optimizer groups are :mod:`abcparam.torch.groups`, the record of what was done
:mod:`abcparam.torch.spec`.

:func:`parametrize` plans everything first (kinds, tied tensors, attention scales) and changes no
tensor until the whole plan is valid; applying it again re-applies cleanly (multipliers are reset,
never stacked; the tensors are re-initialised).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import torch
import torch.nn.utils.parametrize as P
from torch import nn

from ..engine.rules_table import Rules
from .attention import AttentionPlan, check_observed, observe_attention, plan_attention
from .checkpoint import attach, into_config, remove_multiplier, set_use_multiplier, surviving_of
from .constants import apply_constants, plan_constants
from .fold import clear_views, fold_scales
from .groups import build_optimizer, param_groups
from .layers import WeightMultiplier as _Multiplier
from .mapping import named_parameters
from .plan import SCALED, TensorPlan, depth_plan, plan_tensors
from .shapes import refuse_recurrent
from .spec import ParamSpec, Spec
from .widths import checked_width, mapped_kinds, ratio_and_widths, resolve_base

#: :func:`param_groups`, :func:`build_optimizer`, :class:`Spec` were defined here: still importable
__all__ = ["ParamSpec", "Spec", "build_optimizer", "param_groups", "parametrize"]


def parametrize(
    model: nn.Module,
    rules: Rules,
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
    model_width = checked_width(model, width)
    base_model, delta, base_w = resolve_base(model, base, width, delta)
    width = width or model_width
    if base_model is None and width is None:
        raise ValueError(f"this {type(model).__name__} has no .width attribute: pass width=")
    mapped, dims = mapped_kinds(model, base_model, delta, layer_map, example_batch)
    ratio, width, base_w = ratio_and_widths(dims, mapped, width, base_w)
    depth = depth_plan(model, rules, base_depth)
    plans = plan_tensors(
        model, rules, mapped, ratio, zero_readout, base_model is not None, depth, fold
    )
    attention = plan_attention(model, base_model, rules, ratio, ignore_attention)
    attention, views = fold_scales(model, rules, plans, attention, fold, example_batch)
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


def _checked_arguments(rules: Rules, fold, base, base_width):
    """``base`` (``base_width=`` folded in) once ``fold`` and ``rules`` are of the accepted kinds."""
    if fold is not None and not isinstance(fold, bool):
        raise ValueError(f"fold = {fold!r}: accepted True, False or None (fold foreign layers)")
    if base_width is not None:
        if base is not None:
            raise ValueError("give base= or base_width=, not both")
        base = base_width
    if not isinstance(rules, Rules):
        hint = (
            f"; for a scheme name use abcparam.rules({rules!r})" if isinstance(rules, str) else ""
        )
        raise TypeError(f"rules must be abcparam.rules(...) or derive(...); got {rules!r}{hint}")
    return base


def _set_depth_and_surviving(model, plans, attention, depth, fold) -> dict:
    """Each residual block's branch multiplier set; the multipliers no tensor carries (``fold``)
    written into the config and attached to the model; returns them."""
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


def _set_multiplier(
    module: nn.Module,
    attr: str,
    m: float,
    rows: int = 0,
    factor: float = 1.0,
    folded: bool = False,
):
    """Give ``module.attr`` the multiplier ``m`` (the first ``rows`` rows ``m * factor``): an
    attribute on abcparam's own layers, a use hook on a folded tensor, else a torch
    parametrization (reset, never stacked)."""
    one_factor = not (rows and factor != 1.0)
    if isinstance(module, SCALED) and (not rows or (folded and one_factor)):
        setattr(module, "multiplier" if attr == "weight" else "bias_multiplier", m)
        return
    if folded and one_factor:
        remove_multiplier(module, attr)  # a multiplier left by an earlier fold=False
        set_use_multiplier(module, attr, m)  # 1.0 removes it
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
    model: nn.Module,
    plans: list[TensorPlan],
    attention: list[AttentionPlan],
    seed,
    init: bool = True,
) -> None:
    """Write the plan into the model: init (unless ``init=False``), multipliers, attention."""
    modules = dict(model.named_modules(remove_duplicate=False))
    if init:
        _initialise(plans, seed)
    _set_multipliers(modules, plans, attention)
    _set_attention(modules, plans, attention)


def _initialise(plans: list[TensorPlan], seed) -> None:
    """Each tensor drawn, zeroed or filled as planned (``seed``: one generator per device)."""
    generators: dict[torch.device, torch.Generator] = {}
    with torch.no_grad():
        for plan in plans:
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


#: MultiheadAttention's tensors whose first ``embed_dim`` rows are the query's
_Q_ROW_TENSORS = ("in_proj_weight", "in_proj_bias", "q_proj_weight")


def _set_multipliers(modules: dict, plans: list[TensorPlan], attention) -> None:
    """Each use's multiplier; a MultiheadAttention's query rows also take its attention factor."""
    q_rows = {a.name: a for a in attention if a.attr == "q_rows"}
    for plan in plans:
        for module_name, attr, m in plan.targets:
            module = modules[module_name]
            rows, factor = 0, 1.0
            if module_name in q_rows and attr in _Q_ROW_TENSORS:
                rows, factor = module.embed_dim, q_rows[module_name].value
            _set_multiplier(module, attr, m, rows, factor, plan.folded)


def _set_attention(modules: dict, plans: list[TensorPlan], attention) -> None:
    """Each attention module's scale: set (its own kept once, to restore), given back when folded
    into a tensor, or put on the query rows of a projection the plan does not reach."""
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
