"""One tensor, two layer kinds: the rule for tied weights (an embedding reused as the readout).

A tied tensor ``w`` has one init std ``n^-b`` and one learning rate ``n^-c`` (one Adam epsilon, one
weight decay), but each use may have its own forward multiplier: the embedding reads ``n^-a_E w``
and the readout ``n^-a_R w``.  The abc-symmetry (TP-V Lemma J.1; Everett et al. 2024) moves any
layer's exponents along ``(a, b, c, eps) -> (a + t, b - t, c - k t, eps + t)`` without changing its
training dynamics (k = 2 SGD, 1 Adam, 0 Adafactor).  So the tie is realisable when one shift per
use brings every use to the same (b, c, eps, weight decay): keep the embedding's coordinates
(t_E = 0) and shift the readout by ``t_R = b_R - b_E`` so that both have the embedding's init;
then the readout's shifted LR exponent ``c_R - k t_R`` must equal ``c_E`` (and likewise eps and the
weight-decay exponent).  The uses keep different forward multipliers ``n^-a_E`` and
``n^-(a_R + t_R)``.  When the LR exponents still differ the scheme cannot be realised with one
tensor, and the fix is to untie (``tie_word_embeddings=False`` in a Hugging Face config).

Worked example, muP with Adam in the engine's coordinates (embedding a = -1/2, b = c = 1/2; readout
a = b = c = 1/2): t_R = 0 and the LR exponents already agree, so the tensor gets init n^-1/2 and LR
n^-1/2, the embedding use the multiplier n^(1/2) and the readout use n^-1/2 -- in mup's own
coordinates, unit init, width-independent LR and a readout multiplier 1/n (``MuSharedReadout``).
SP is not realisable: t_R = 1/2 leaves the readout's Adam LR exponent at 1/2 against the
embedding's 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sympy

from ..engine.exponents import EMBEDDING, fmt
from ..engine.rules import reparametrize
from ..engine.rules_table import Rules

#: the exponents one tensor carries whatever the number of its uses
SHARED = ("b", "c", "eps", "wd")


class TiedWeightsError(ValueError):
    """A scheme whose rules one shared tensor cannot carry; ``reason`` says which exponent."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


def power(e: Any) -> str:
    """``n^-e`` written for a reader: n^-1/2, n^(1/2), 1."""
    e = sympy.sympify(e)
    if e == 0:
        return "1"
    if e.is_number and e < 0:
        return f"n^({fmt(-e)})"
    return f"n^-{fmt(e)}" if e.is_Atom else f"n^-({fmt(e)})"


@dataclass(frozen=True)
class TiedRule:
    """How a tensor shared by layers of ``kinds`` is parametrized: the ``reference`` kind keeps its
    coordinates; ``theta[kind]`` is each use's symmetry shift and ``a[kind]`` its multiplier
    exponent; ``shared`` holds the tensor's one b, c, eps and wd exponents."""

    kinds: tuple[str, ...]
    reference: str
    theta: dict[str, sympy.Expr]
    a: dict[str, sympy.Expr]
    shared: dict[str, Any]
    why: str


def _wd(rule) -> Any:
    return getattr(rule, "wd", None)


def _value(rule, key: str) -> Any:
    return _wd(rule) if key == "wd" else getattr(rule, key)


def tied_rule(rules: Rules, kinds: Sequence[str], names: Sequence[str] = ()) -> TiedRule:
    """The :class:`TiedRule` for a tensor used as layers of ``kinds`` (e.g. embedding, readout);
    raises :class:`TiedWeightsError` when no symmetry shift makes the uses agree."""
    distinct = tuple(dict.fromkeys(kinds))
    reference = EMBEDDING if EMBEDDING in distinct else distinct[0]
    ref = rules[reference]
    theta = {k: sympy.expand(rules[k].b - ref.b) for k in distinct}
    shifted = reparametrize(rules, theta=theta) if any(theta.values()) else rules
    shared = {key: _value(ref, key) for key in SHARED}
    label = ", ".join(f"{n!r} ({k})" for n, k in zip(names, kinds)) or ", ".join(kinds)
    for kind in distinct:
        for key in SHARED:
            mine, theirs = _value(shifted[kind], key), shared[key]
            if mine is None and theirs is None:
                continue
            if mine is None or theirs is None or sympy.simplify(mine - theirs) != 0:
                reason = (
                    f"moved along the abc-symmetry to the {reference}'s init exponent "
                    f"b = {fmt(ref.b)} (theta = {fmt(theta[kind])}), the {kind} needs {key} = "
                    f"{fmt(mine)} but the {reference} needs {key} = {fmt(theirs)}"
                )
                raise TiedWeightsError(
                    f"one tensor is shared by {label}; under {rules.title()} it cannot carry both "
                    f"rules: {reason}. Untie the weights (Hugging Face: tie_word_embeddings=False "
                    f"in the config) or use a scheme whose {kind} and {reference} rules agree up "
                    f"to the symmetry (e.g. mup)",
                    reason,
                )
    a = {k: sympy.expand(shifted[k].a) for k in distinct}
    why = (
        f"tied ({', '.join(distinct)}): one init {power(ref.b)} and LR {power(ref.c)} from the "
        f"{reference}; "
        + "; ".join(
            f"{k} use multiplier {power(a[k])} (a = {fmt(rules[k].a)} shifted by theta = "
            f"{fmt(theta[k])} along the abc-symmetry)"
            for k in distinct
            if k != reference
        )
    )
    return TiedRule(tuple(kinds), reference, theta, a, shared, why)


def explain_tied(rules: Rules) -> str:
    """Markdown: how an embedding tied to the readout is parametrized under ``rules`` (or why it
    cannot be), for the book and ``Spec.table()``."""
    head = f"**Tied embedding and readout under {rules.title()}.** "
    try:
        rule = tied_rule(rules, (EMBEDDING, "readout"))
    except TiedWeightsError as err:
        return head + f"Not realisable: {err.reason}; untie (tie_word_embeddings=False)."
    t = rule.theta["readout"]
    return head + (
        f"The shared tensor keeps the embedding's init std {power(rule.shared['b'])} and learning "
        f"rate {power(rule.shared['c'])}"
        + (f" (epsilon {power(rule.shared['eps'])})" if rule.shared["eps"] is not None else "")
        + f"; the embedding use keeps its multiplier {power(rule.a[EMBEDDING])}, and the readout "
        f"use, moved along the abc-symmetry by theta = b_readout - b_embedding = {fmt(t)}, reads "
        f"the tensor with the multiplier {power(rule.a['readout'])}, times the constant "
        f"1/sqrt(base width) so that its logits start at the scale of an untied readout."
    )
