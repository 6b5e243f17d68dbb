"""The public table :class:`Rules`: a :class:`~.rules_types.RulesData` with its views (markdown,
LaTeX and JSON from render.py, the Pareto front from front.py) and its variant ``with_c``."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import sympy

from . import render
from .exponents import CORE_KINDS, EMBEDDING, VECTOR_KINDS, canonical_kind, exact, fmt
from .front import pareto_front
from .minmax import sign_on_box, smin
from .optimizers import get_optimizer
from .recursion import Chain
from .rules_types import FrozenMap, Number, RulesData
from .solve import analyze_chain, update_exponents


class Rules(RulesData):
    """A derived parametrization: per-kind :class:`LayerRule` plus what it was derived under.

    >>> from abcparam import rules
    >>> r = rules("mup", optimizer="adam")
    >>> r.exponents("c")["readout"], r.regime
    (1/2, 'feature learning in every layer (all r = 0)')
    """

    # -- variants ------------------------------------------------------------------------------
    def with_c(self, c: Mapping[str, Number] | Number) -> Rules:
        """Same a, b and alignment, learning-rate exponents given instead of derived (e.g. SP with
        one width-independent LR: ``with_c(0)``); r and the regime are recomputed."""
        new_c = self._given_c(c)
        r_chain, r_kind = self._r_at(new_c)
        syms = self.alignment.symbols
        opt = get_optimizer(self.optimizer)
        layers = {}
        for kind, rule in self.layers.items():
            wd, wd_why = opt.wd_exponent(kind, new_c[kind], self.weight_decay)
            blow_up = sign_on_box(r_kind[kind], syms) == -1
            why = dict(
                rule.why,
                wd=wd_why,
                c=f"c = {fmt(new_c[kind])}: given by the user (not derived)",
                r=f"r = {fmt(r_kind[kind])}: from the recursion at the given c"
                + (" — negative: the features blow up with width" if blow_up else ""),
            )
            layers[kind] = replace(rule, c=new_c[kind], r=r_kind[kind], wd=wd, why=why)
        return replace(
            self,
            layers=layers,
            lr_mode="given",
            r_chain=tuple(r_chain),
            regime=render.regime(layers, syms),
        )

    def _given_c(self, c: Mapping[str, Number] | Number) -> dict[str, sympy.Expr]:
        """Every kind's c from a user's value or mapping (vector-like kinds follow the embedding
        unless named)."""
        given = c if isinstance(c, Mapping) else {kind: c for kind in self.layers}
        new_c = {kind: rule.c for kind, rule in self.layers.items()}
        for kind, value in given.items():
            new_c[canonical_kind(kind)] = exact(value, f"{kind} c")
        named = {canonical_kind(k) for k in given}
        if EMBEDDING in named:
            for kind in set(VECTOR_KINDS) - named:
                new_c[kind] = new_c[EMBEDDING]
        return new_c

    def _r_at(self, c: dict[str, sympy.Expr]) -> tuple[list, dict[str, sympy.Expr]]:
        """(r along the chain, r per kind) at learning-rate exponents ``c``."""
        a, b = self.exponents("a"), self.exponents("b")
        opt = get_optimizer(self.optimizer)
        chain = Chain.mlp(self.hidden_layers)
        r_chain = analyze_chain(a, b, c, opt, self.alignment, chain, view=self.update_view)
        syms = self.alignment.symbols
        r_kind = {
            kind: smin([r_chain[p] for p in chain.positions(kind)], syms) for kind in CORE_KINDS
        }
        for kind in VECTOR_KINDS:  # added straight onto features: r = k
            r_kind[kind] = update_exponents(a, b, c, opt, Chain((kind,)), syms)[0]
        return r_chain, r_kind

    # -- rendering (render.py) ----------------------------------------------------------------
    def title(self) -> str:
        return render.title(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every exponent as a string such as "1/2"."""
        return render.to_dict(self)

    def to_markdown(self, why: bool = False) -> str:
        return render.markdown(self, why)

    def to_latex(self) -> str:
        return render.latex(self)

    def __str__(self) -> str:
        return self.to_markdown()

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    @functools.cached_property
    def front(self) -> tuple[Mapping[str, sympy.Expr], ...]:
        """The Pareto front of largest learning rates (its vertices), numeric alignment only
        (read-only, like the rest of a cached result)."""
        return tuple(FrozenMap(point) for point in pareto_front(self))
