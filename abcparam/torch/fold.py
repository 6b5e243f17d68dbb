"""Multipliers that live outside a layer, moved into a tensor along the abc-symmetry.

Two multipliers are not a weight's own, yet one tensor can carry them exactly:

- the attention logit scale the rules ask for (``s = s0 (d/d0)^-x``, TP-V Def. 4.1) against the
  module's own (``1/sqrt(d)``): the logits are bilinear in q, so ``q.k * s`` equals
  ``(f q).k * s_own`` with ``f = s / s_own``.  ``f`` goes into the query projection (``q_proj``
  or ``query``: RoPE is a rotation, and grouped keys/values are untouched) or, when a q-norm
  follows it (qk-layernorm), into that norm's gain, which would undo a factor on ``q_proj``;
- a tied embedding's second use, the readout ``m E h`` with ``h = g * norm(x) (+ beta)``, equals
  ``E (m g * norm(x) (+ m beta))``: the multiplier goes into the gain (and bias) of the final norm
  when that norm feeds nothing but the readout (a Hugging Face LM head model).

The tensor ``w`` becomes ``f w``; its init std, learning rate, epsilon and weight decay move as
the abc-symmetry says (TP-V Lemma J.1; Everett et al. 2024 Sec. 2).  The engine gives the law:
:func:`symmetry_shift` reads how ``reparametrize`` moves each exponent per unit shift and applies
it to the real factor ``f``, so training is unchanged.  The coordinate check's recorder reads the
layer in the rules' coordinates through :func:`set_view`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeGuard

import torch
from torch import nn

from ..engine.rules import Rules, reparametrize
from .calling import call_model, evaluating, tensors
from .checkpoint import CONFIG_FIELDS

if TYPE_CHECKING:
    from .plan import TensorPlan

#: names a query projection / a q-norm / a k-norm goes by inside an attention module
Q_PROJ = ("q_proj", "query")
Q_NORM = ("q_norm", "q_layernorm", "query_layernorm", "q_ln")
K_NORM = ("k_norm", "k_layernorm", "key_layernorm", "k_ln")
#: the final norm of a Hugging Face base model, by the names its families use
FINAL_NORM = ("norm", "ln_f", "final_layer_norm", "final_layernorm", "norm_f")


def _deltas(rules: Rules, kind: str) -> dict[str, float] | None:
    """How one unit of shift (theta = 1) moves the kind's b, c, eps and wd exponents (the engine's
    ``reparametrize``); None for a kind the rules do not have."""
    if kind not in rules.layers:
        return None
    before, after = rules[kind], reparametrize(rules, theta={kind: 1})[kind]
    out = {}
    for key in ("b", "c", "eps", "wd"):
        x, y = getattr(before, key, None), getattr(after, key, None)
        out[key] = 0.0 if x is None or y is None else float(y - x)
    return out


def symmetry_shift(spec, rules: Rules, factor: float, why: str):
    """``spec`` (a ParamSpec) after its tensor takes the multiplier ``factor`` along the
    abc-symmetry: theta = log(factor) in units where ``n^theta = factor``, so each width factor
    ``n^-e`` of init, LR, epsilon and decay is multiplied by ``factor^-(d e / d theta)``."""
    d = _deltas(rules, spec.kind)
    if d is None:
        raise ValueError(f"cannot shift a {spec.kind!r} tensor along the abc-symmetry")
    return dataclasses.replace(
        spec,
        init_std=None if spec.init_std is None else spec.init_std * factor ** (-d["b"]),
        lr_scale=spec.lr_scale * factor ** (-d["c"]),
        eps_scale=spec.eps_scale * factor ** (-d["eps"]) if spec.has_eps else spec.eps_scale,
        wd_scale=spec.wd_scale * factor ** (-d["wd"]) if spec.has_wd else spec.wd_scale,
        why=f"{spec.why}; {why}" if spec.why else why,
    )


def is_norm(module: nn.Module) -> bool:
    name = type(module).__name__.lower()
    return isinstance(module, (nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)) or "norm" in name


def scales_with_gain(norm: nn.Module) -> bool:
    """Does multiplying the norm's gain (and bias) by f multiply its output by f?  (Not for
    Gemma's ``x (1 + w)`` norms.)  Checked on a random input, the tensors restored."""
    w = getattr(norm, "weight", None)
    if not isinstance(w, torch.Tensor) or w.dim() != 1 or w.device.type == "meta":
        return False
    if getattr(norm, "track_running_stats", False):  # batch norm: statistics, not a gain
        return False
    b = getattr(norm, "bias", None)
    x = torch.randn(3, w.shape[0], generator=torch.Generator().manual_seed(0)).to(w)
    with torch.no_grad():
        saved = [t.clone() for t in (w, b) if isinstance(t, torch.Tensor)]
        try:
            y = norm(x)
            for t in (w, b):
                if isinstance(t, torch.Tensor):
                    t.mul_(2.0)
            ok = bool(torch.allclose(norm(x), 2 * y, rtol=1e-4, atol=1e-6)) and y.abs().max() > 0
        finally:
            for t, v in zip([t for t in (w, b) if isinstance(t, torch.Tensor)], saved):
                t.copy_(v)
    return ok


def _heads(module: nn.Module) -> int | None:
    for source in (module, getattr(module, "config", None)):
        for attr in ("num_heads", "num_attention_heads", "n_head", "n_heads"):
            v = getattr(source, attr, None)
            if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                return v
    return None


def query_target(name: str, module: nn.Module, head_dim: int) -> tuple[str, tuple[str, ...]]:
    """Where an attention module's logit factor can go: (module name, tensors) of its q-norm
    (gain, bias) or of its query projection (weight, bias); ("", ()) when nowhere (a fused qkv
    such as GPT-2's ``c_attn`` needs one learning rate per row block, which one tensor's group
    cannot give; a gated query; an unknown norm)."""
    children = dict(module.named_children())
    q_norms = [n for n in children if n in Q_NORM]
    others = [n for n, c in children.items() if is_norm(c) and n not in Q_NORM and n not in K_NORM]
    if others or len(q_norms) > 1:
        return "", ()
    prefix = f"{name}." if name else ""
    if q_norms:
        norm = children[q_norms[0]]
        if not scales_with_gain(norm):
            return "", ()
        attrs = tuple(
            a for a in ("weight", "bias") if isinstance(getattr(norm, a, None), nn.Parameter)
        )
        return prefix + q_norms[0], attrs
    projections = [n for n in Q_PROJ if isinstance(children.get(n), nn.Linear)]
    heads = _heads(module)
    if len(projections) != 1 or heads is None:
        return "", ()
    q = children[projections[0]]
    if q.out_features != heads * head_dim:  # a gate or other rows beside the query
        return "", ()
    attrs = ("weight",) + (("bias",) if q.bias is not None else ())
    return prefix + projections[0], attrs


def final_norm(model: nn.Module, head_name: str) -> str:
    """The final norm feeding a Hugging Face LM head model's readout and nothing else, as a
    module name; "" when there is none to fold into (not an LM head model, another head reads
    the hidden states, or a norm whose gain does not scale its output)."""
    base_prefix = getattr(model, "base_model_prefix", None)
    get_output_embeddings = getattr(model, "get_output_embeddings", None)
    if not base_prefix or not callable(get_output_embeddings):
        return ""
    head = get_output_embeddings()
    if head is None or dict(model.named_modules()).get(head_name) is not head:
        return ""
    with_params = [n for n, c in model.named_children() if any(True for _ in c.parameters())]
    if sorted(with_params) != sorted([base_prefix, head_name]):
        return ""  # another head (e.g. a multiple-choice head) reads the hidden states too
    base = getattr(model, base_prefix)
    found = [a for a in FINAL_NORM if isinstance(getattr(base, a, None), nn.Module)]
    if len(found) != 1 or not is_norm(getattr(base, found[0])):
        return ""
    if not scales_with_gain(getattr(base, found[0])):
        return ""
    return f"{base_prefix}.{found[0]}"


# -- how the coordinate check reads a layer whose tensors took a factor from elsewhere ---------


def set_view(module: nn.Module, weight: float = 1.0, inputs: float = 1.0) -> None:
    """The layer in the rules' coordinates: effective weight = stored x ``weight``, input =
    stored x ``inputs`` (output and bias x ``weight * inputs``); (1, 1) removes it."""
    if math.isclose(weight, 1.0, rel_tol=1e-12) and math.isclose(inputs, 1.0, rel_tol=1e-12):
        module.__dict__.pop("_abcparam_view", None)
    else:
        module.__dict__["_abcparam_view"] = (float(weight), float(inputs))


def view_of(module: nn.Module) -> tuple[float, float]:
    """(weight factor, input factor) of :func:`set_view`; (1, 1) for a layer read as stored."""
    return module.__dict__.get("_abcparam_view", (1.0, 1.0))


def clear_views(model: nn.Module, keep: Mapping[str, tuple[float, float]]) -> None:
    """Set each module's view from ``keep`` (module name -> factors), removing all others."""
    for name, module in model.named_modules():
        set_view(module, *keep.get(name, (1.0, 1.0)))


# -- a user's own model: the final norm found and checked in one forward pass ------------------


def _run(model: nn.Module, batch) -> list[torch.Tensor]:
    """The floating-point tensors of the model's output on ``batch`` (eval mode, no gradients)."""
    with evaluating(model), torch.no_grad():
        out = call_model(model, batch)
    return [t.detach().clone() for t in tensors(out) if t.is_floating_point()]


def _scaled(module: nn.Module, factor: float):
    return module.register_forward_hook(lambda mod, args, out: out * factor)


def traced_final_norm(model: nn.Module, head_name: str, factor: float, batch) -> str:
    """The norm whose output is the readout's input in a forward pass on ``batch`` (any model),
    kept only when the outputs agree with ``factor`` on the readout's output or on the norm's
    (nothing else reads the norm's output); "" otherwise."""
    modules = dict(model.named_modules())
    head = modules[head_name]
    seen: dict[str, torch.Tensor] = {}
    fed: list[torch.Tensor] = []
    handles = [
        m.register_forward_hook(lambda mod, args, out, n=n: seen.setdefault(n, out))
        for n, m in modules.items()
        if is_norm(m) and isinstance(getattr(m, "weight", None), nn.Parameter)
    ]
    handles.append(head.register_forward_pre_hook(lambda mod, args: fed.append(args[0])))
    try:
        _run(model, batch)
    finally:
        for h in handles:
            h.remove()
    if len(fed) != 1 or not isinstance(fed[0], torch.Tensor):
        return ""
    x = fed[0]
    found = [
        n
        for n, out in seen.items()
        if isinstance(out, torch.Tensor)
        and out.data_ptr() == x.data_ptr()
        and out.shape[-1] == x.shape[-1]
    ]
    if len(found) != 1 or not scales_with_gain(modules[found[0]]):
        return ""
    return found[0] if same_outputs(model, head_name, found[0], factor, batch) else ""


def same_outputs(model: nn.Module, head_name: str, norm_name: str, factor: float, batch) -> bool:
    """Do the outputs on ``batch`` agree with ``factor`` on the readout's output and with it on
    the norm's output (the fold's function, checked before anything changes)?"""
    modules = dict(model.named_modules())
    norm = modules[norm_name]
    # a generic gain and bias while checking (a unit gain and zero bias hide e.g. a mean)
    tensors = [t for t in (norm.weight, getattr(norm, "bias", None)) if isinstance(t, torch.Tensor)]
    saved = [t.detach().clone() for t in tensors]
    g = torch.Generator().manual_seed(0)
    results = []
    try:
        with torch.no_grad():
            for t in tensors:
                t.copy_((0.5 + torch.rand(t.shape, generator=g)).to(t))
        for where in (head_name, norm_name):
            handle = _scaled(modules[where], factor)
            try:
                results.append(_run(model, batch))
            finally:
                handle.remove()
    finally:
        with torch.no_grad():
            for t, v in zip(tensors, saved):
                t.copy_(v)
    a, b = results
    return len(a) == len(b) > 0 and all(
        x.shape == y.shape and torch.allclose(x, y, rtol=1e-4, atol=1e-6) for x, y in zip(a, b)
    )


# -- the plan's scales folded into its tensors (parametrize, before any tensor changes) --------


def fold_scales(model, rules: Rules, plans, attention, fold, example_batch):
    """(attention plans, weight views): the attention and tied-readout scales that one tensor
    can carry moved into it (``fold`` not False, engine rules)."""
    views: dict[str, tuple[float, float]] = {}
    if fold is not False and isinstance(rules, Rules):
        attention = _fold_attention(model, rules, plans, attention, views)
        _fold_readout(model, rules, plans, views, example_batch)
    return attention, views


def _own_fields(model: nn.Module) -> bool:
    """The architecture's config has fields for these multipliers (Granite): keep them there."""
    return getattr(getattr(model, "config", None), "model_type", None) in CONFIG_FIELDS


def _shift(plan: TensorPlan, rules: Rules, factor: float, why: str) -> None:
    """Move ``factor`` into the plan's tensor along the abc-symmetry (init, LR, eps, decay)."""
    plan.spec = symmetry_shift(plan.spec, rules, factor, why)
    plan.value = plan.spec.init_std or 0.0


def _foldable(plans: list[TensorPlan | None]) -> TypeGuard[list[TensorPlan]]:
    """Tensors that can take a factor: planned, folded, read once, initialised by the plan."""
    return all(
        p is not None and p.folded and len(p.targets) == 1 and p.mode in ("normal", "fill", "zero")
        for p in plans
    )


def _fold_attention(model, rules: Rules, plans: list[TensorPlan], attention, views) -> list:
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


def _fold_readout(model, rules: Rules, plans: list[TensorPlan], views, example_batch=None) -> None:
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
