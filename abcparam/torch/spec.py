"""What :func:`~abcparam.torch.parametrize` did to a model: per tensor its kind, multipliers, init
std and the width factors of its learning rate, epsilon and weight decay (:class:`Spec`), and
that spec written as a table (``Spec.table()``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import sympy
from torch import nn

from ..engine.rules import Rules
from .attention import AttentionPlan
from .constants import ConstantPlan


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
