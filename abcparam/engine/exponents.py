"""Width, layer kinds and exact exponents: the vocabulary every other module speaks.

Conventions are Everett et al. 2024 (arXiv 2407.05872, Sec. 2): one width ``n``; a weight is
``W = n^-a w`` with ``w ~ N(0, n^-2b)`` and learning rate ``eta n^-c``.  Exponents stay exact sympy
numbers (or expressions in alignment symbols), never floats, so that derived tables are exact.
"""

from __future__ import annotations

from fractions import Fraction
from numbers import Integral
from typing import Any

import sympy

#: The width.  Every exponent e in this package means a factor ``N**(-e)``.
N = sympy.Symbol("n", positive=True)
#: The depth: the number of residual blocks.  A depth exponent e means a factor ``L**(-e)``; it is
#: kept apart from the width exponent of the same quantity (depth.py; TP-VI, CompleteP).
L = sympy.Symbol("L", positive=True)
#: One half: the exponent of a width sum of n independent terms (sqrt(n)), used throughout.
HALF = sympy.Rational(1, 2)

#: The three layer kinds of Everett et al.'s one-width form, in forward order.
EMBEDDING, HIDDEN, READOUT = "embedding", "hidden", "readout"
CORE_KINDS: tuple[str, ...] = (EMBEDDING, HIDDEN, READOUT)
#: Vector-like parameters (fan-in fixed, fan-out n) that behave like the embedding (TP-V Table 3:
#: "input weights & all biases"; norm gains likewise).
VECTOR_KINDS: tuple[str, ...] = ("bias", "norm")
LAYER_KINDS: tuple[str, ...] = CORE_KINDS + VECTOR_KINDS

KIND_ALIASES: dict[str, str] = {
    "embedding": EMBEDDING,
    "input": EMBEDDING,
    "embed": EMBEDDING,
    "hidden": HIDDEN,
    "readout": READOUT,
    "output": READOUT,
    "unembedding": READOUT,
    "bias": "bias",
    "norm": "norm",
    "norm_gain": "norm",
    "gain": "norm",
}


def canonical_kind(name: str) -> str:
    """Map a layer-kind name or alias ("input", "output", ...) to its canonical kind."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in KIND_ALIASES:
        raise ValueError(
            f"unknown layer kind {name!r}; accepted: {', '.join(sorted(KIND_ALIASES))}"
        )
    return KIND_ALIASES[key]


def resolve(
    name: str, table: dict, aliases: dict[str, str], what: str, accepted: list[str] | None = None
):
    """Look ``name`` up through its aliases; an unknown name is an error listing the accepted
    names (in ``accepted`` order, default the table's) and the aliases."""
    key = str(name).strip().lower()
    if key not in aliases:
        names = accepted if accepted is not None else list(table)
        raise ValueError(
            f"unknown {what} {name!r}; accepted: {', '.join(names)} "
            f"(aliases: {', '.join(sorted(set(aliases) - set(table)))})"
        )
    return table[aliases[key]]


def exact(value: Any, what: str = "exponent") -> sympy.Expr:
    """Convert ``value`` to an exact sympy number/expression; floats are refused.

    Exactness is a design rule (book page "Conventions"): 0.5 and 1/2 print alike but only one survives
    ``a + b == 1/2`` checks; a float silently breaks equivalence tests and rendering.
    """
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a number, got the bool {value!r}")
    if isinstance(value, float):
        raise TypeError(
            f"{what} = {value!r} is a float; exponents are exact: use sympy.Rational, "
            f"fractions.Fraction, an int, or a string such as '1/2'"
        )
    if isinstance(value, Integral):
        return sympy.Integer(int(value))
    if isinstance(value, Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    if isinstance(value, str):
        try:
            parsed = sympy.Rational(value.strip())
        except (TypeError, ValueError, SyntaxError, ZeroDivisionError) as err:
            why = " (it divides by zero)" if isinstance(err, ZeroDivisionError) else ""
            raise ValueError(
                f"{what} = {value!r} is not an exact number{why}; accepted: an exact number such "
                f"as '1/2' or '-1'"
            ) from None
        return parsed
    if isinstance(value, sympy.Basic):
        expr = sympy.sympify(value)
        if expr.atoms(sympy.Float):
            raise TypeError(f"{what} = {value} contains a float; use exact rationals")
        if not isinstance(expr, sympy.Expr):
            raise TypeError(f"{what} = {value!r} is not a sympy expression")
        return expr
    raise TypeError(
        f"{what} = {value!r} ({type(value).__name__}) is not numeric; "
        f"accepted: int, fractions.Fraction, sympy number or symbol, or a string like '1/2'"
    )


def fmt(expr: sympy.Expr | None) -> str:
    """Plain-text form of an exponent (``"1/2"``, ``"-1"``, ``"Max(alpha, u)"``); '—' for None."""
    if expr is None:
        return "—"
    return str(sympy.sympify(expr))
