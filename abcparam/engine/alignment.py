"""Alignment exponents (Everett et al. 2024, Sec. 3): how a width-n sum of two factors scales.

A sum over n products scales as ``n^x`` with x = 1 when the factors are fully correlated and x = 1/2
when they are independent (CLT).  Each non-embedding layer has three such sums in its feature
change (book page "Conventions"): **alpha** for ``dW z0``, **omega** for ``W0 dz``, **u** for ``dW dz``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import product
from typing import Any

import sympy

from .exponents import HALF, HIDDEN, READOUT, canonical_kind, exact

ONE = sympy.Integer(1)
VARIABLES: tuple[str, ...] = ("alpha", "omega", "u")
_VARIABLE_ALIASES = {"alpha": "alpha", "α": "alpha", "omega": "omega", "ω": "omega", "u": "u"}
#: Layer kinds that carry alignment variables (the embedding sums over a fixed dimension).
ALIGNED_KINDS: tuple[str, ...] = (HIDDEN, READOUT)


@dataclass(frozen=True)
class Triple:
    """The three alignment exponents of one layer."""

    alpha: sympy.Expr
    omega: sympy.Expr
    u: sympy.Expr

    def as_dict(self) -> dict[str, sympy.Expr]:
        return {"alpha": self.alpha, "omega": self.omega, "u": self.u}


# "full": alpha = u = 1 but omega = 1/2 -- W0 is independent of the change it multiplies
# (book page "Conventions"; Everett et al. 2024 Sec. 3).  "tp4" is TP-IV's analysis: omega = 1 at the readout.
_FULL = Triple(ONE, HALF, ONE)
_NONE = Triple(HALF, HALF, HALF)


@dataclass(frozen=True)
class Alignment:
    """Per-layer-kind alignment exponents, each a number in [1/2, 1] or a sympy symbol."""

    hidden: Triple
    readout: Triple
    name: str = "custom"

    def at(self, kind: str) -> Triple:
        kind = canonical_kind(kind)
        if kind == HIDDEN:
            return self.hidden
        if kind == READOUT:
            return self.readout
        raise ValueError(f"layer kind {kind!r} has no alignment variables; only {ALIGNED_KINDS} do")

    @property
    def symbols(self) -> tuple[sympy.Symbol, ...]:
        found: set[sympy.Symbol] = set()
        for triple in (self.hidden, self.readout):
            for value in triple.as_dict().values():
                found |= value.free_symbols
        return tuple(sorted(found, key=str))

    @property
    def is_numeric(self) -> bool:
        return not self.symbols

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            **{
                kind: {k: str(v) for k, v in getattr(self, kind).as_dict().items()}
                for kind in ALIGNED_KINDS
            },
        }

    def describe(self) -> str:
        if self.name in ("full", "none", "tp4"):
            return self.name
        h, r = self.hidden, self.readout
        return (
            f"hidden (α, ω, u) = ({h.alpha}, {h.omega}, {h.u}); "
            f"readout (α, ω, u) = ({r.alpha}, {r.omega}, {r.u})"
        )


NAMED: dict[str, Alignment] = {
    "full": Alignment(_FULL, _FULL, "full"),
    "none": Alignment(_NONE, _NONE, "none"),
    "tp4": Alignment(_FULL, Triple(ONE, ONE, ONE), "tp4"),
}
_NAME_ALIASES = {
    "full": "full",
    "none": "none",
    "no": "none",
    "tp4": "tp4",
    "tp-iv": "tp4",
    "tpiv": "tp4",
}


def _check_value(value: Any, where: str) -> sympy.Expr:
    expr = exact(value, f"alignment {where}")
    if isinstance(expr, sympy.Symbol):
        return expr  # assumed to lie in [1/2, 1]
    if expr.free_symbols:
        raise ValueError(
            f"alignment {where} = {expr}: give a number in [1/2, 1] or a bare sympy Symbol"
        )
    if not (HALF <= expr <= ONE):
        raise ValueError(f"alignment {where} = {expr} lies outside the accepted range [1/2, 1]")
    return expr


def make_alignment(spec: Any = "full") -> Alignment:
    """Build an :class:`Alignment` from ``"full"``, ``"none"``, ``"tp4"``, a number or symbol x
    (alpha = u = x, omega = 1/2 in every layer), or a mapping ``{"alpha": .., "omega": .., "u": ..}``
    whose values are numbers, symbols or per-kind mappings such as ``{"hidden": x, "readout": y}``.
    Unnamed variables take their ``"full"`` values."""
    if isinstance(spec, Alignment):
        return spec
    original = spec
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key in _NAME_ALIASES:
            return NAMED[_NAME_ALIASES[key]]
        try:
            spec = exact(key, "alignment")
        except (ValueError, TypeError):
            raise ValueError(
                f"unknown alignment {spec!r}; accepted: 'full', 'none', 'tp4', a number in "
                f"[1/2, 1], a sympy Symbol, or a mapping over {VARIABLES}"
            ) from None
    if isinstance(spec, Mapping):
        return _from_mapping(spec)
    try:
        value = _check_value(spec, "x")
    except ValueError as err:
        raise ValueError(f"alignment {original!r}: {err}") from None
    triple = Triple(value, HALF, value)
    return Alignment(triple, triple, f"alpha = u = {value}")


def _from_mapping(spec: Mapping[str, Any]) -> Alignment:
    per_kind = {kind: dict(_FULL.as_dict()) for kind in ALIGNED_KINDS}
    for raw_key, value in spec.items():
        key = _VARIABLE_ALIASES.get(str(raw_key).strip().lower())
        if key is None:
            raise ValueError(
                f"unknown alignment variable {raw_key!r}; accepted: 'alpha', 'omega', 'u'"
            )
        if isinstance(value, Mapping):
            for raw_kind, sub in value.items():
                kind = canonical_kind(raw_kind)
                if kind not in ALIGNED_KINDS:
                    raise ValueError(
                        f"alignment {key} given for layer kind {raw_kind!r}; only "
                        f"{ALIGNED_KINDS} have alignment variables"
                    )
                per_kind[kind][key] = _check_value(sub, f"{key}[{kind}]")
        else:
            checked = _check_value(value, key)
            for kind in ALIGNED_KINDS:
                per_kind[kind][key] = checked
    return Alignment(Triple(**per_kind[HIDDEN]), Triple(**per_kind[READOUT]), "custom")


def box_points(symbols: tuple[sympy.Symbol, ...]) -> list[dict[sympy.Symbol, sympy.Expr]]:
    """Corners of the box [1/2, 1]^k of the alignment symbols (for exact linear comparisons)."""
    return [dict(zip(symbols, corner)) for corner in product((HALF, ONE), repeat=len(symbols))]
