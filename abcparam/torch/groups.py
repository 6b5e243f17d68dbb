"""Torch optimizer groups from a :class:`~abcparam.torch.spec.Spec`: each tensor's learning rate,
epsilon and weight decay times its width factors, merged by identical settings, and an optimizer
over them (one per distinct optimizer of a per-kind plan such as Muon + AdamW)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .. import validate
from ..engine.exponents import canonical_kind
from ..engine.optimizers import OPTIMIZERS, PerKind, canonical_name, get_optimizer
from ..engine.rules import Rules
from .mapping import SCALAR, named_parameters
from .optim import default_eps, group_eps, kind_optimizer, make_optimizer, torch_weight_decay
from .spec import Spec


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
