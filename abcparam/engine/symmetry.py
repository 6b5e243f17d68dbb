"""The abc-symmetry (TP-V Lemma J.1): (a, b, c, eps) -> (a + t, b - t, c - k t, eps + t) per kind
leaves the dynamics unchanged; :func:`equivalent` tests it, :func:`reparametrize` moves along it
(into named coordinate systems such as TP-V's Table 3)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

import sympy

from .exponents import READOUT, canonical_kind, exact, fmt
from .optimizers import get_optimizer
from .rules_table import Rules
from .rules_types import LayerRule, Number


def equivalent(first: Rules, second: Rules) -> bool:
    """True when ``second`` is ``first`` moved along the abc-symmetry (TP-V Lemma J.1):
    (a, b, c, eps) -> (a + t, b - t, c - k t, eps + t) per kind, k = 2 SGD, 1 Adam, 0 Adafactor.

    >>> from abcparam import rules
    >>> equivalent(rules("mup", optimizer="adam"), rules("mfp", optimizer="adam"))
    True
    """
    for name, value in (("first", first), ("second", second)):
        if not isinstance(value, Rules):
            hint = (
                f"; for a scheme name use abcparam.rules({value!r}, ...)"
                if isinstance(value, str)
                else ""
            )
            raise TypeError(
                f"equivalent compares two Rules; {name} is {value!r} ({type(value).__name__})"
                + hint
            )
    if first.optimizer != second.optimizer or first.alignment != second.alignment:
        return False
    if first.weight_decay != second.weight_decay or first.update_view != second.update_view:
        return False
    for kind in first.layers:
        k = first.symmetry(kind)
        one, two = first[kind], second[kind]
        theta = two.a - one.a
        checks = [two.b - (one.b - theta), two.c - (one.c - k * theta), two.r - one.r]
        if one.eps is not None or two.eps is not None:
            if one.eps is None or two.eps is None:
                return False
            checks.append(two.eps - (one.eps + theta))
        if any(sympy.simplify(x) != 0 for x in checks):
            return False
    return sympy.simplify(first.attention_logit_exponent - second.attention_logit_exponent) == 0


#: Named coordinate systems: the target of the symmetry shift per kind, from a rule's (a, b).
COORDINATES: dict[str, Callable[[str, LayerRule], sympy.Expr]] = {
    # TP-V Table 3: no multipliers, every scale in the init (a = 0).
    "no-multipliers": lambda kind, rule: -rule.a,
    # TP-V Table 8 / microsoft/mup's MuReadout: multiplier only on the readout, whose init is 1.
    "readout-multiplier": lambda kind, rule: rule.b if kind == READOUT else -rule.a,
    # u-muP (Blake et al. 2024): unit init everywhere (b = 0), every scale in the multiplier.
    "unit-scaled": lambda kind, rule: rule.b,
    # Everett et al. 2024's muP form, the engine's canonical one: left unchanged.
    "everett": lambda kind, rule: sympy.Integer(0),
}


def reparametrize(
    rules_: Rules,
    *,
    theta: Mapping[str, Number] | None = None,
    a: Mapping[str, Number] | None = None,
    coordinates: str | None = None,
) -> Rules:
    """The same parametrization in other coordinates: shift each kind by theta, to a target
    multiplier exponent ``a``, or into a named system (``COORDINATES``: "no-multipliers" = TP-V
    Table 3, "readout-multiplier" = TP-V Table 8, "unit-scaled" = u-muP) along the abc-symmetry;
    dynamics, r and regime are unchanged.

    >>> from abcparam import rules
    >>> tp5 = reparametrize(rules("mup", optimizer="adam"), coordinates="no-multipliers")
    >>> [(str(tp5[k].a), str(tp5[k].c)) for k in ("embedding", "hidden", "readout")]
    [('0', '0'), ('0', '1'), ('0', '1')]
    """
    if sum(x is not None for x in (theta, a, coordinates)) != 1:
        raise ValueError("give exactly one of theta=, a= or coordinates=")
    shifts = {kind: sympy.Integer(0) for kind in rules_.layers}
    if theta is not None:
        for kind, value in theta.items():
            shifts[canonical_kind(kind)] = exact(value, f"theta[{kind}]")
    elif a is not None:
        for kind, value in a.items():
            kind = canonical_kind(kind)
            shifts[kind] = exact(value, f"a[{kind}]") - rules_[kind].a
    else:
        if coordinates not in COORDINATES:
            raise ValueError(
                f"unknown coordinates {coordinates!r}; accepted: {', '.join(COORDINATES)}"
            )
        shifts = {
            kind: COORDINATES[coordinates](kind, rule) for kind, rule in rules_.layers.items()
        }
    opt = get_optimizer(rules_.optimizer)
    layers = {}
    for kind, rule in rules_.layers.items():
        k = rules_.symmetry(kind)
        t = shifts[kind]
        note = f" (shifted by theta = {fmt(t)} along the abc-symmetry, TP-V Lemma J.1)" if t else ""
        why = {key: text + note for key, text in rule.why.items()}
        c = sympy.expand(rule.c - k * t)
        wd, wd_why = opt.wd_exponent(kind, c, rules_.weight_decay)
        why["wd"] = wd_why + note
        layers[kind] = replace(
            rule,
            a=rule.a + t,
            b=rule.b - t,
            c=c,
            wd=wd,
            eps=None if rule.eps is None else sympy.expand(rule.eps + t),
            why=why,
        )
    return replace(rules_, layers=layers)
