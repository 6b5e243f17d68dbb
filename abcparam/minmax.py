"""Exact min/max of exponents that may depend on alignment symbols in [1/2, 1].

The solver's thresholds are affine in the alignment symbols; an affine function is >= 0 on the box
[1/2, 1]^k iff it is >= 0 at the corners, so dominated arguments can be dropped exactly and
``Max(0, alpha - 1)`` prints as ``0``.  What cannot be decided stays a sympy Min/Max (piecewise).
"""
from __future__ import annotations

from itertools import combinations
from typing import Iterable

import sympy

from .alignment import HALF, ONE, box_points


def _is_affine(expr: sympy.Expr, symbols: tuple[sympy.Symbol, ...]) -> bool:
    if expr.has(sympy.Min, sympy.Max):
        return False
    return all(sympy.degree(expr, s) <= 1 for s in symbols if expr.has(s)) if symbols else True


def _test_points(expr: sympy.Expr, symbols: tuple[sympy.Symbol, ...]):
    points = box_points(symbols)
    if _is_affine(expr, symbols) or len(symbols) != 1:
        return points
    # One symbol, piecewise affine: add every breakpoint where two affine pieces cross.
    (s,) = symbols
    pieces = {p for p in sympy.preorder_traversal(expr)
              if isinstance(p, sympy.Expr) and _is_affine(p, symbols) and p.has(s)} | {
        p for m in expr.atoms(sympy.Min, sympy.Max) for p in m.args}
    for p, q in combinations(pieces, 2):
        for root in sympy.solve(sympy.Eq(p, q), s):
            if root.is_Rational and HALF <= root <= ONE:
                points.append({s: root})
    return points


def sign_on_box(expr: sympy.Expr, symbols: tuple[sympy.Symbol, ...] = ()) -> int | None:
    """+1 if ``expr >= 0`` on the whole box (0 if identically 0), -1 if ``expr < 0`` somewhere
    and ``<= 0`` everywhere, None if it changes sign or cannot be decided."""
    expr = sympy.sympify(expr)
    syms = tuple(s for s in symbols if expr.has(s))
    if not syms:
        if not expr.is_number:
            return None
        return 0 if expr == 0 else (1 if expr > 0 else -1)
    if len(syms) > 1 and not _is_affine(expr, syms):
        return None
    values = [expr.subs(point) for point in _test_points(expr, syms)]
    if all(v == 0 for v in values):
        return 0
    if all(v >= 0 for v in values):
        return 1
    if all(v <= 0 for v in values):
        return -1
    return None


def _prune(args: Iterable[sympy.Expr], symbols, keep_larger: bool) -> list[sympy.Expr]:
    unique: list[sympy.Expr] = []
    for arg in (sympy.sympify(a) for a in args):
        if not any(sympy.expand(arg - u) == 0 for u in unique):
            unique.append(arg)
    kept = []
    for i, arg in enumerate(unique):
        dominated = False
        for j, other in enumerate(unique):
            if i == j:
                continue
            diff = (other - arg) if keep_larger else (arg - other)
            sign = sign_on_box(sympy.expand(diff), symbols)
            if sign == 1 or (sign == 0 and j < i):
                dominated = True
                break
        if not dominated:
            kept.append(arg)
    return kept


def smax(args: Iterable[sympy.Expr], symbols: tuple[sympy.Symbol, ...] = ()) -> sympy.Expr:
    """Max over ``args``, dropping every argument dominated on the alignment box."""
    kept = _prune(args, symbols, keep_larger=True)
    return kept[0] if len(kept) == 1 else sympy.Max(*kept)


def smin(args: Iterable[sympy.Expr], symbols: tuple[sympy.Symbol, ...] = ()) -> sympy.Expr:
    """Min over ``args``, dropping every argument dominated on the alignment box."""
    kept = _prune(args, symbols, keep_larger=False)
    return kept[0] if len(kept) == 1 else sympy.Min(*kept)
