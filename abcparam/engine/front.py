"""The Pareto front of largest learning rates (book page "Conventions", the objective).

Every ``r_l >= 0`` is a conjunction of linear inequalities in c (recursion.py), so the stable set is
a polyhedron and the largest learning rates are its Pareto-minimal points.  For a numeric alignment
this module enumerates the polyhedron's vertices exactly (rational arithmetic) and keeps the
Pareto-minimal ones: e.g. muP + SGD + no alignment gives the segment from c = (0, -1/2, 0) to
(1/2, 0, -1/2) (Everett et al. 2024's single third-party copy prints the first; only the second
keeps every layer maximally updated).
"""

from __future__ import annotations

from fractions import Fraction
from itertools import combinations

import sympy

from .exponents import CORE_KINDS, EMBEDDING, READOUT
from .minmax import affine_row, solve_square
from .optimizers import get_optimizer
from .recursion import Chain, r_forms
from .rules_types import RulesData
from .solve import backward_forms, readout_update, triples_for

Row = tuple[tuple[Fraction, ...], Fraction]  # coefficients . x + constant >= 0


def stability_rows(rules: RulesData) -> tuple[list[str], list[Row]]:
    """The stable set {c : every r_l >= 0, optimizer bounds} as rows over the free kinds' c."""
    if not rules.alignment.is_numeric:
        raise ValueError(
            "the front is computed for a numeric alignment only; "
            f"this one has symbols {rules.alignment.symbols}"
        )
    opt = get_optimizer(rules.optimizer)
    a, b = rules.exponents("a"), rules.exponents("b")
    given_c = rules.exponents("c")
    fixed = {EMBEDDING: given_c[EMBEDDING]} if "embedding_update" in rules.conventions else {}
    free = [kind for kind in CORE_KINDS if kind not in fixed]
    C = {kind: sympy.Symbol(f"c_{kind}") for kind in free}
    c = {**fixed, **C}
    chain = Chain.mlp(rules.hidden_layers)
    s = [sympy.expand(a[kind] + b[kind]) for kind in chain.kinds]
    backward = backward_forms(a, b, readout_update(opt, a, b, c[READOUT]))
    k_forms = [
        [(f, None) for f in opt.update_forms(kind, a[kind], b[kind], c[kind], backward)]
        for kind in chain.kinds
    ]
    exprs = [
        f
        for pos in r_forms(
            chain, k_forms, s, triples_for(chain, rules.alignment, opt, rules.update_view)
        )
        for f, _ in pos
    ]
    for kind in free:
        floor = opt.lr_floor(kind)
        if floor is not None:
            exprs.append(C[kind] - floor)
    rows = {affine_row(sympy.expand(expr), [C[k] for k in free]) for expr in exprs}
    return free, sorted(rows)


def _feasible(x, rows: list[Row]) -> bool:
    return all(sum(c * v for c, v in zip(coeffs, x)) + const >= 0 for coeffs, const in rows)


def _dominated(x, rows: list[Row]) -> bool:
    """Whether some stable point is <= x everywhere and < x somewhere (an LP, scipy)."""
    from scipy.optimize import linprog

    m = len(x)
    res = linprog(
        c=[1.0] * m,
        A_ub=[[-float(v) for v in coeffs] for coeffs, _ in rows],
        b_ub=[float(const) for _, const in rows],
        bounds=[(None, float(v)) for v in x],
        method="highs",
    )
    return res.status == 0 and res.fun < float(sum(x)) - 1e-9


def pareto_front(rules: RulesData) -> list[dict[str, sympy.Expr]]:
    """Vertices of the Pareto front of the stable set (exact), sorted by the readout's c."""
    free, rows = stability_rows(rules)
    vertices = set()
    for chosen in combinations(rows, len(free)):
        x = solve_square(list(chosen))
        if x is not None and _feasible(x, rows):
            vertices.add(x)
    front = [x for x in vertices if not _dominated(x, rows)]
    front.sort(key=lambda x: tuple(reversed(x)))
    fixed = {EMBEDDING: rules.exponents("c")[EMBEDDING]} if EMBEDDING not in free else {}
    return [
        {**fixed, **{kind: sympy.Rational(v.numerator, v.denominator) for kind, v in zip(free, x)}}
        for x in front
    ]


def is_pareto_minimal(rules: RulesData) -> bool:
    """Whether the derived c is stable and no stable c is smaller in one layer and no larger in
    any other (i.e. it gives every layer a largest learning rate)."""
    free, rows = stability_rows(rules)
    c = rules.exponents("c")
    x = tuple(Fraction(str(c[kind])) for kind in free)
    return _feasible(x, rows) and not _dominated(x, rows)
