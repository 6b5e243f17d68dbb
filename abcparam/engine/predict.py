"""Predicted width slopes of what a coordinate check measures (book page "Coordinate checks").

For a model built with multiplier ``(n/n0)^-a``, init std ``sigma (n/n0)^-b`` and LR ``eta (n/n0)^-c``,
the log-log slope against width of
- ``delta``: RMS of a layer's output change since init, is ``-r`` (dz = Theta(n^-r));
- ``output``: RMS of the output after training, is ``max(init slope, -r)``, where the init slope
  is ``-(a+b)`` for the embedding and ``1/2 - (a+b)`` for n-wide sums (CLT at init);
- ``update``: RMS of the entries of the effective weight change ``n^-a (w_t - w_0)``, is ``-k``;
- ``terms``: for a width-n matmul, the slopes of the three parts of its change (Everett et al.
  2024's decomposition): ``dW x0 ~ n^(alpha - k + s_x)``, ``W0 dx ~ n^(omega - a - b - r_in)``,
  ``dW dx ~ n^(u - k - r_in)``; ``delta`` is their maximum (the asymptotic answer).
The alignment can be the rules' assumption or one measured per layer (floats allowed there), and
so can the input's change ``r_in`` and the input's own scale ``s_x`` (0 for a stable network).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sympy

from .alignment import Triple
from .exponents import EMBEDDING, HALF, VECTOR_KINDS, canonical_kind
from .minmax import smax
from .optimizers import get_optimizer
from .recursion import Chain, r_terms
from .rules_table import Rules
from .solve import update_exponents


def _measured(value: Any) -> sympy.Expr:
    """A measured alignment exponent as an exact rational (measurements may be floats and may
    fall outside [1/2, 1]; they are data here, not assumptions)."""
    if isinstance(value, float):
        return sympy.Rational(value).limit_denominator(1000)
    return sympy.sympify(value)


def _measured_list(values: Sequence[Any] | None) -> list[sympy.Expr | None] | None:
    """Per-position measurements (None where not measured) as exact rationals."""
    return None if values is None else [None if v is None else _measured(v) for v in values]


def _triple(given: Mapping[str, Any] | None, default: Triple | None) -> Triple | None:
    if given is None:
        return default
    base = default.as_dict() if default is not None else {}
    values = {
        key: _measured(given[key]) if given.get(key) is not None else base.get(key)
        for key in ("alpha", "omega", "u")
    }
    return Triple(**values)


def predict_slopes(
    rules: Rules,
    chain: Any,
    step: int = 1,
    alignment: Sequence[Mapping[str, Any] | None] | None = None,
    parents: Sequence[Sequence[int]] | None = None,
    input_r: Sequence[Any] | None = None,
    input_scale: Sequence[Any] | None = None,
) -> list[dict[str, Any]]:
    """Per chain position: predicted slopes of output, delta and update after ``step`` updates.

    ``chain`` lists layer kinds in forward order (first must be the embedding), or is a
    discovered ``Topology`` (its kinds, and its parents unless given); ``alignment`` is
    None (the rules' own) or one ``{"alpha", "omega", "u"}`` mapping (or None) per position;
    ``parents`` gives, per position, the positions feeding it (a graph such as a transformer's
    residual stream; default: each position feeds the next); ``input_r`` optionally gives, per
    position, the measured exponent of the change of that layer's input (floats allowed), so that
    each layer is predicted from what it actually receives; ``input_scale`` likewise gives the
    measured width slope of each layer's input at init (default 0, which stability guarantees).
    """
    kinds, parents = _kinds_and_parents(chain, parents)
    if alignment is not None and len(alignment) != len(kinds):
        raise ValueError(f"alignment has {len(alignment)} entries for a chain of {len(kinds)}")
    if not isinstance(step, int) or step < 1:
        raise ValueError(f"step = {step!r}: need an int >= 1")
    the_chain = Chain(kinds)
    opt = get_optimizer(rules.optimizer)
    a, b, c = rules.exponents("a"), rules.exponents("b"), rules.exponents("c")
    syms = rules.alignment.symbols
    triples = _triples(rules, opt, kinds, alignment)
    ks = update_exponents(a, b, c, opt, the_chain, syms, step)
    if alignment is not None:  # an optimizer that fixes the operator norm: entries follow alpha
        ks = [
            k
            if t is None or (given := alignment[pos]) is None or given.get("alpha") is None
            else opt.entry_exponent_at(kinds[pos], k, t.alpha, rules.update_view)
            for pos, (k, t) in enumerate(zip(ks, triples))
        ]
    s = [sympy.expand(a[kind] + b[kind]) for kind in kinds]
    scale = _measured_list(input_scale)
    rs = r_terms(the_chain, ks, s, triples, syms, parents, _measured_list(input_r), scale)
    out = []
    for pos, (name, kind) in enumerate(zip(the_chain.names, kinds)):
        r, r_parts = rs[pos]
        # as slopes of what a coordinate check measures: the change terms are n^-(their r)
        terms = None if r_parts is None else {t: -e for t, e in r_parts.items()}
        if kind in VECTOR_KINDS + (EMBEDDING,):
            init = -s[pos] if pos == 0 or kind == EMBEDDING else sympy.Integer(0)
        else:  # a CLT sum of n inputs of scale n^s_x
            measured = scale[pos] if scale is not None and scale[pos] is not None else 0
            init = HALF - s[pos] + measured
        t = triples[pos]
        out.append(
            {
                "name": name,
                "kind": kind,
                "k": ks[pos],
                "r": r,
                "init": init,
                "delta": -r,
                "terms": terms,
                "output": smax([init, -r], syms),
                "update": -ks[pos],
                "alignment": None if t is None else t.as_dict(),
            }
        )
    return out


def _kinds_and_parents(
    chain: Any, parents: Sequence[Sequence[int]] | None
) -> tuple[tuple[str, ...], Sequence[Sequence[int]] | None]:
    """The chain's kinds (canonical; the first must be the embedding) and its graph: a
    discovered ``Topology`` brings its own parents unless they are given."""
    if not isinstance(chain, (list, tuple)) and hasattr(chain, "parents"):
        if parents is None:
            parents = [list(p) for p in chain.parents]
        chain = chain.kinds
    kinds = tuple(canonical_kind(k) for k in chain)
    if not kinds or kinds[0] != EMBEDDING:
        raise ValueError(f"chain must start with the embedding; got {list(chain)}")
    return kinds, parents


def _triples(
    rules: Rules,
    opt: Any,
    kinds: tuple[str, ...],
    alignment: Sequence[Mapping[str, Any] | None] | None,
) -> list[Triple | None]:
    """The alignment each matrix position meets: the rules' own (as the optimizer sees it),
    with any measured values given per position in its place."""
    defaults = [
        None
        if (pos == 0 or kind in VECTOR_KINDS + (EMBEDDING,))
        else opt.effective_triple(kind, rules.alignment.at(kind), rules.update_view)
        for pos, kind in enumerate(kinds)
    ]
    return [
        d if alignment is None or d is None else _triple(alignment[pos], d)
        for pos, d in enumerate(defaults)
    ]
