"""Derive the learning-rate exponents c from the constraints (Everett et al. 2024; book page "Conventions").

Stability at init fixes a + b per layer; stability during training asks every ``r_l >= 0``; the
derived c of a layer is the largest learning rate (smallest c) the constraints allow.  Where those
maxima trade off between layers, the point where every layer is maximally updated (all ``r_l = 0``)
is chosen when it exists, else one with nontrivial logits (``r_readout = 0``); ``front.py`` reports
the whole Pareto front.

The derivation works in update exponents ``k`` (the size of ``n^-a dw``), where the recursion is
monotone and layer-local, then maps k to c through the optimizer's update model:
1. backward: the smallest r each layer must leave for the layer above to be stable (rho);
2. forward: per layer kind, the smallest k with ``r >= rho`` at every position of that kind;
3. map: c = optimizer.lr_exponent(k), with SGD's backward signal G = min(a_out + b_out, k_out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sympy

from .alignment import Alignment, Triple
from .exponents import CORE_KINDS, EMBEDDING, HALF, HIDDEN, READOUT, VECTOR_KINDS, fmt
from .minmax import sign_on_box, smax, smin
from .optimizers.base import UpdateModel
from .recursion import Chain, Form, Reason, r_forms, r_values

ZERO = sympy.Integer(0)


class NoStableParametrization(ValueError):
    """No choice of learning-rate exponents satisfies the constraints."""


@dataclass
class Solution:
    """Derived exponents per layer kind, with the reason each one holds."""

    c: dict[str, sympy.Expr]
    k: dict[str, sympy.Expr]
    r: dict[str, sympy.Expr]
    r_chain: list[sympy.Expr]
    why_c: dict[str, str]
    why_r: dict[str, str]
    backward: sympy.Expr | None = None
    notes: list[str] = field(default_factory=list)


#: Stability at initialisation (Everett et al. 2024; TP-IV Thm 3.3): the condition on a + b per
#: core kind; vector-like kinds follow the embedding.
INIT_STABILITY: dict[str, tuple[str, sympy.Expr]] = {
    EMBEDDING: ("=", ZERO),
    HIDDEN: ("=", HALF),
    READOUT: (">=", HALF),
}


def check_init_stability(a: dict, b: dict, symbols=()) -> None:
    """Stability at initialisation (:data:`INIT_STABILITY`): embedding a + b = 0, hidden
    a + b = 1/2, readout a + b >= 1/2.  Violations are errors naming the layer."""
    rules = dict(INIT_STABILITY)
    rules.update({kind: INIT_STABILITY[EMBEDDING] for kind in VECTOR_KINDS})
    for kind, (op, target) in rules.items():
        s = sympy.expand(a[kind] + b[kind])
        unknown = s.free_symbols - set(symbols)
        if unknown:  # only alignment symbols have a known range ([1/2, 1]) to decide over
            names = ", ".join(sorted(map(str, unknown)))
            raise ValueError(
                f"cannot decide stability for a symbolic value: {kind} a + b = {fmt(s)} depends "
                f"on {names}, and stability at init needs a + b {op} {fmt(target)}; give numbers "
                f"for a and b (only alignment symbols may stay symbolic)"
            )
        ok = (s == target) if op == "=" else sign_on_box(s - target, symbols) in (0, 1)
        if not ok:
            raise NoStableParametrization(
                f"unstable at initialisation: {kind} a + b = {fmt(s)}, but stability at init needs "
                f"a + b {op} {fmt(target)} (Everett et al. 2024 Sec. 2; TP-IV Thm 3.3)"
            )


def triples_for(
    chain: Chain, alignment: Alignment, opt: UpdateModel | None = None, view: str = "spectral"
) -> list[Triple | None]:
    """The alignment each position meets: the assumed one, unless the layer's optimizer fixes it
    (a spectral update under ``view="spectral"``: optimizers/muon.py)."""
    out: list[Triple | None] = []
    for kind in chain.kinds:
        triple = None if kind == EMBEDDING else alignment.at(kind)
        out.append(triple if opt is None else opt.effective_triple(kind, triple, view))
    return out


def _any_backward(opt: UpdateModel) -> bool:
    return any(opt.uses_backward(kind) for kind in CORE_KINDS + VECTOR_KINDS)


def _floor_k(opt: UpdateModel, kind: str, a, b) -> sympy.Expr | None:
    floor = opt.lr_floor(kind)
    if floor is None:
        return None
    return smin(opt.update_forms(kind, a[kind], b[kind], floor, [ZERO]))


def _smallest(
    symbol: sympy.Symbol,
    forms: list[Form],
    targets: list[sympy.Expr],
    syms,
    extra: list[tuple[sympy.Expr, str]],
) -> tuple[sympy.Expr, str]:
    """Smallest value of ``symbol`` with every form >= its target; returns (value, reason)."""
    candidates: list[tuple[sympy.Expr, Reason | str | None]] = list(extra)
    for (expr, label), target in zip(forms, targets):
        p = sympy.expand(expr).coeff(symbol)
        q = sympy.expand(expr).subs(symbol, 0)
        if p == 0:
            if sign_on_box(sympy.expand(q - target), syms) not in (0, 1):
                raise NoStableParametrization(
                    f"no learning rate can satisfy {label} >= {fmt(target)}: it does not depend "
                    f"on this layer's learning rate and equals {fmt(q)}"
                )
            continue
        candidates.append((sympy.expand((target - q) / p), label))
    value = smax([v for v, _ in candidates], syms)
    winners = [label for v, label in candidates if sympy.expand(v - value) == 0]
    if not winners:  # piecewise: name every argument of the Max
        args = set(value.args) if isinstance(value, sympy.Max) else {value}
        winners = [label for v, label in candidates if v in args]
    texts = list(dict.fromkeys(str(w) for w in winners))
    more = f" (and {len(texts) - 1} equally tight terms)" if len(texts) > 1 else ""
    return value, texts[0] + more


def derive_exponents(
    a: dict,
    b: dict,
    opt: UpdateModel,
    alignment: Alignment,
    chain: Chain,
    conventions: dict,
    view: str = "spectral",
) -> Solution:
    """Largest stable learning rates per layer kind, maximal update where possible."""
    syms = alignment.symbols
    check_init_stability(a, b, syms)
    s = [sympy.expand(a[kind] + b[kind]) for kind in chain.kinds]
    triples = triples_for(chain, alignment, opt, view)
    last = len(chain.kinds) - 1

    # 1. backward: r the layer below must leave so that W0·dz (omega) stays stable.
    rho = [ZERO] * len(chain.kinds)
    for pos in range(last, 0, -1):
        t = triples[pos]
        assert t is not None, "only the embedding (position 0) lacks an alignment triple"
        rho[pos - 1] = smax([ZERO, sympy.expand(rho[pos] + t.omega - s[pos])], syms)

    # 2. forward: smallest k per kind (one k per kind, shared by all its positions).
    k: dict[str, sympy.Expr] = {}
    why_k: dict[str, str] = {}
    if "embedding_update" in conventions:
        k[EMBEDDING], why_k[EMBEDDING] = conventions["embedding_update"]
        why_k[EMBEDDING] = f"convention: {why_k[EMBEDDING]}"
    for kind in (EMBEDDING, HIDDEN, READOUT):
        if kind in k:
            continue
        K = sympy.Symbol(f"k_{kind}")
        k_forms = [[(K, None)] if kk == kind else [(k.get(kk, ZERO), None)] for kk in chain.kinds]
        all_forms = r_forms(chain, k_forms, s, triples)
        forms, targets = [], []
        for pos in chain.positions(kind):
            forms += all_forms[pos]
            targets += [rho[pos]] * len(all_forms[pos])
        extra = []
        floor = _floor_k(opt, kind, a, b)
        if floor is not None:
            extra.append((floor, f"{opt.name}'s bound c >= {fmt(opt.lr_floor(kind))}"))
        k[kind], why_k[kind] = _smallest(K, forms, targets, syms, extra)
    for kind in VECTOR_KINDS:  # added straight onto features: maximal update is k = 0
        floor = _floor_k(opt, kind, a, b)
        k[kind] = ZERO if floor is None else smax([ZERO, floor], syms)
        why_k[kind] = (
            "its change is added to the features, so dz = Theta(n^-k); maximal "
            "update k = 0" + (f", bounded by {opt.name}'s c >= 0" if floor is not None else "")
        )

    # 3. map k -> c.
    backward = smin(backward_forms(a, b, [k[READOUT]]), syms) if _any_backward(opt) else None
    c = {
        kind: sympy.expand(opt.lr_exponent(kind, a[kind], b[kind], k[kind], backward)) for kind in k
    }
    for kind in c:
        floor = opt.lr_floor(kind)
        if floor is not None:
            c[kind] = smax([c[kind], floor], syms)
    r_chain = analyze_chain(a, b, c, opt, alignment, chain, step=None, view=view)
    sol = _summarise(chain, c, k, r_chain, rho, opt, why_k, syms, backward)
    return sol


def derive_shared_lr(
    a: dict, b: dict, opt: UpdateModel, alignment: Alignment, chain: Chain, view: str = "spectral"
) -> Solution:
    """One learning-rate exponent for every layer (TP-IV Def. 3.2): the largest stable one."""
    syms = alignment.symbols
    check_init_stability(a, b, syms)
    X = sympy.Symbol("c_shared")
    s = [sympy.expand(a[kind] + b[kind]) for kind in chain.kinds]
    backward = backward_forms(a, b, readout_update(opt, a, b, X))
    k_forms = [
        [(f, None) for f in opt.update_forms(kind, a[kind], b[kind], X, backward)]
        for kind in chain.kinds
    ]
    forms = [
        f
        for pos_forms in r_forms(chain, k_forms, s, triples_for(chain, alignment, opt, view))
        for f in pos_forms
    ]
    extra = []
    if opt.lr_floor(HIDDEN) is not None:
        extra.append((opt.lr_floor(HIDDEN), f"{opt.name}'s bound c >= 0"))
    value, reason = _smallest(X, forms, [ZERO] * len(forms), syms, extra)
    c = {kind: value for kind in CORE_KINDS + VECTOR_KINDS}
    r_chain = analyze_chain(a, b, c, opt, alignment, chain, step=None, view=view)
    k = {
        kind: smin(
            opt.update_forms(
                kind,
                a[kind],
                b[kind],
                value,
                [smin(backward_forms(a, b, readout_update(opt, a, b, value)), syms)],
            ),
            syms,
        )
        for kind in c
    }
    why = {
        kind: f"one learning rate for all layers (TP-IV): the largest stable, fixed by {reason}"
        for kind in c
    }
    sol = _summarise(chain, c, k, r_chain, [ZERO] * len(chain.kinds), opt, why, syms, None)
    sol.why_c = why
    sol.why_r = {  # what holds a layer below maximal update here is the one shared rate
        kind: text.replace(
            "a convention fixes its rate", f"the one shared rate is held by {reason}"
        )
        for kind, text in sol.why_r.items()
    }
    return sol


def _summarise(chain, c, k, r_chain, rho, opt, why_k, syms, backward) -> Solution:
    r_kind: dict[str, sympy.Expr] = {}
    for kind in CORE_KINDS:
        r_kind[kind] = smin([r_chain[p] for p in chain.positions(kind)], syms)
    for kind in VECTOR_KINDS:
        r_kind[kind] = k[kind]
    why_c, why_r = {}, {}
    for kind in c:
        why_c[kind] = (
            f"c = {fmt(c[kind])}: the largest {kind} learning rate the constraints "
            f"allow; update exponent k = {fmt(k[kind])} fixed by {why_k[kind]}; "
            f"{opt.name}: {opt.update_formula(kind)}"
        )
        if backward is not None and kind != READOUT:
            why_c[kind] += f", with backward signal G = {fmt(backward)}"
    for kind, r in r_kind.items():
        sign = sign_on_box(r, syms)
        if sign == 0:
            why_r[kind] = "r = 0: maximal update — the layer's features move by Theta(1)"
        elif sign == 1:
            pos = chain.positions(kind)
            needed = smax([rho[p] for p in pos], syms) if pos else ZERO
            because = (
                f"the layer above needs r >= {fmt(needed)} (its W0·dz term, omega > a + b)"
                if sign_on_box(needed, syms) == 1
                else f"{opt.name}'s bound c >= 0 holds the learning rate down"
                if opt.lr_floor(kind) is not None
                else "a convention fixes its rate"
            )
            why_r[kind] = f"r = {fmt(r)} > 0: features move by n^-r -> 0 ({because})"
        else:
            why_r[kind] = f"r = {fmt(r)}: depends on the alignment (piecewise)"
    return Solution(
        c=c, k=k, r=r_kind, r_chain=r_chain, why_c=why_c, why_r=why_r, backward=backward
    )


def backward_forms(
    a: dict, b: dict, moved: Sequence[sympy.Expr], step: int | None = None
) -> list[sympy.Expr]:
    """Forms of G, the width exponent of the backward signal below the readout (SGD's step
    carries it): G = min(a_out + b_out, k_out), the readout at init or its change once it has
    moved (Everett et al. 2024, Sec. 2; TP-IV Def. 3.2).  ``moved``: the forms of the readout's
    update exponent k_out (see :func:`readout_update`).  At step 1 the readout has not
    moved yet, so G = a_out + b_out.  The one place this fact is written."""
    s_out = sympy.expand(a[READOUT] + b[READOUT])
    return [s_out] if step == 1 else [s_out, *moved]


def readout_update(opt: UpdateModel, a: dict, b: dict, c_out) -> list[sympy.Expr]:
    """Forms of the readout's update exponent k_out for learning-rate exponent ``c_out``."""
    return list(opt.update_forms(READOUT, a[READOUT], b[READOUT], c_out, []))


def update_exponents(
    a: dict, b: dict, c: dict, opt: UpdateModel, chain: Chain, syms=(), step: int | None = None
) -> list[sympy.Expr]:
    """k at every chain position for given c.  SGD's first gradient (step 1) sees the readout at
    init, G = a_out + b_out; later ones see the moved readout, G = min(a_out + b_out, k_out)."""
    moved = readout_update(opt, a, b, c[READOUT])
    backward = smin(backward_forms(a, b, moved, step), syms)
    return [
        smin(opt.update_forms(kind, a[kind], b[kind], c[kind], [backward]), syms)
        for kind in chain.kinds
    ]


def analyze_chain(
    a: dict,
    b: dict,
    c: dict,
    opt: UpdateModel,
    alignment,
    chain: Chain,
    step: int | None = None,
    triples: list | None = None,
    view: str = "spectral",
) -> list[sympy.Expr]:
    """r at every chain position for given exponents (the forward recursion, evaluated)."""
    syms = tuple(alignment.symbols) if alignment is not None else ()
    ks = update_exponents(a, b, c, opt, chain, syms, step)
    s = [sympy.expand(a[kind] + b[kind]) for kind in chain.kinds]
    triples = triples if triples is not None else triples_for(chain, alignment, opt, view)
    return r_values(chain, ks, s, triples, syms)
