"""Exact min/max of exponents that may depend on alignment symbols in [1/2, 1].

The solver's thresholds are affine in the alignment symbols; an affine function is >= 0 on the box
[1/2, 1]^k iff it is >= 0 at the corners, so dominated arguments can be dropped exactly and
``Max(0, alpha - 1)`` prints as ``0``.  What cannot be decided stays a sympy Min/Max (piecewise).
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from itertools import combinations

import sympy

from .alignment import ONE, box_points
from .exponents import HALF


def _is_affine(expr: sympy.Expr, symbols: tuple[sympy.Symbol, ...]) -> bool:
    if expr.has(sympy.Min, sympy.Max):
        return False
    return all(sympy.degree(expr, s) <= 1 for s in symbols if expr.has(s)) if symbols else True


def _affine_leaves(expr: sympy.Expr, symbols) -> set[sympy.Expr]:
    """The affine pieces a Min/Max expression is built from."""
    if _is_affine(expr, symbols):
        return {sympy.expand(expr)}
    if isinstance(expr, (sympy.Min, sympy.Max)):
        return set().union(*(_affine_leaves(arg, symbols) for arg in expr.args))
    # sums and products of a number with Min/Max: the pieces of each part
    parts = [_affine_leaves(arg, symbols) for arg in expr.args]
    return set().union(*parts) if parts else {expr}


def solve_square(rows: list[tuple[tuple[Fraction, ...], Fraction]]) -> tuple[Fraction, ...] | None:
    """Exact solution of ``coeffs . x + const = 0`` (one row per unknown), None if singular."""
    m = len(rows)
    A = [list(coeffs) + [-const] for coeffs, const in rows]
    for col in range(m):
        pivot = next((r for r in range(col, m) if A[r][col] != 0), None)
        if pivot is None:
            return None
        A[col], A[pivot] = A[pivot], A[col]
        for r in range(m):
            if r != col and A[r][col] != 0:
                factor = A[r][col] / A[col][col]
                A[r] = [x - factor * y for x, y in zip(A[r], A[col])]
    return tuple(A[i][m] / A[i][i] for i in range(m))


def affine_row(expr: sympy.Expr, symbols) -> tuple[tuple[Fraction, ...], Fraction]:
    """(coefficients, constant) of an affine expression, as exact Fractions."""
    poly = sympy.Poly(expr, *symbols)
    return (
        tuple(Fraction(str(poly.coeff_monomial(s))) for s in symbols),
        Fraction(str(poly.coeff_monomial(1))),
    )


def _test_points(expr: sympy.Expr, symbols: tuple[sympy.Symbol, ...]):
    """Points where a piecewise-affine function of the symbols attains its extremes on the box:
    the vertices of the arrangement cut by the box faces and by every equality of two pieces
    (on each cell the function is affine, so its min and max sit at the cell's vertices)."""
    if _is_affine(expr, symbols):
        return box_points(symbols)
    leaves = sorted(_affine_leaves(expr, symbols), key=str)
    planes = [s - HALF for s in symbols] + [s - ONE for s in symbols]
    planes += [sympy.expand(p - q) for p, q in combinations(leaves, 2)]
    rows = sorted({affine_row(p, symbols) for p in planes if p.free_symbols & set(symbols)})
    points, lo, hi = set(), Fraction(str(HALF)), Fraction(str(ONE))
    for chosen in combinations(rows, len(symbols)):
        x = solve_square(list(chosen))
        if x is not None and all(lo <= v <= hi for v in x):
            points.add(x)
    return [
        {s: sympy.Rational(v.numerator, v.denominator) for s, v in zip(symbols, x)}
        for x in sorted(points)
    ]


def sign_on_box(expr: sympy.Expr, symbols: tuple[sympy.Symbol, ...] = ()) -> int | None:
    """+1 if ``expr >= 0`` on the whole box (0 if identically 0), -1 if ``expr < 0`` somewhere
    and ``<= 0`` everywhere, None if it changes sign or cannot be decided."""
    expr = sympy.sympify(expr)
    syms = tuple(s for s in symbols if expr.has(s))
    if not syms:
        if not expr.is_number:
            return None
        return 0 if expr == 0 else (1 if expr > 0 else -1)
    values = [expr.subs(point) for point in _test_points(expr, syms)]
    if all(v == 0 for v in values):
        return 0
    if all(v >= 0 for v in values):
        return 1
    if all(v <= 0 for v in values):
        return -1
    return None


def _prune(args: Iterable[sympy.Expr], symbols, keep_larger: bool) -> list[sympy.Expr]:
    """Drop duplicates and every argument that the others dominate on the box."""
    kept: list[sympy.Expr] = []
    for arg in (sympy.sympify(a) for a in args):
        if not any(sympy.expand(arg - u) == 0 for u in kept):
            kept.append(arg)
    combine = sympy.Max if keep_larger else sympy.Min
    i = 0
    while len(kept) > 1 and i < len(kept):
        others = combine(*(kept[:i] + kept[i + 1 :]))
        diff = (others - kept[i]) if keep_larger else (kept[i] - others)
        if sign_on_box(diff, symbols) in (0, 1):
            kept.pop(i)
        else:
            i += 1
    return kept


def _collapse(expr: sympy.Expr, symbols) -> sympy.Expr:
    """A piecewise expression that equals one of its affine pieces everywhere on the box
    (e.g. ``Min(Max(a, u) - a, Max(a, u) - u) = 0``) is replaced by that piece."""
    syms = tuple(s for s in symbols if expr.has(s))
    if not syms or _is_affine(expr, syms):
        return expr
    for leaf in [sympy.Integer(0)] + sorted(_affine_leaves(expr, syms), key=str):
        if sign_on_box(sympy.expand(expr - leaf), syms) == 0:
            return leaf
    return expr


def smax(args: Iterable[sympy.Expr], symbols: tuple[sympy.Symbol, ...] = ()) -> sympy.Expr:
    """Max over ``args``, dropping every argument dominated on the alignment box."""
    kept = _prune(args, symbols, keep_larger=True)
    return kept[0] if len(kept) == 1 else _collapse(sympy.Max(*kept), symbols)


def smin(args: Iterable[sympy.Expr], symbols: tuple[sympy.Symbol, ...] = ()) -> sympy.Expr:
    """Min over ``args``, dropping every argument dominated on the alignment box."""
    kept = _prune(args, symbols, keep_larger=False)
    return kept[0] if len(kept) == 1 else _collapse(sympy.Min(*kept), symbols)
