"""The derived tables' data: :class:`LayerRule` (one kind's exponents and reasons) and
:class:`RulesData` (every kind, plus what they were derived under), read-only so the cache can share them.

:class:`RulesData` holds a table's fields and plain accessors; :class:`~.rules_table.Rules` adds
its views (render.py, front.py) and variants.  The derivation is in derive.py, the abc-symmetry in
symmetry.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import sympy

from .alignment import Alignment
from .depth import DEPTH_FIELDS, Constraint, DepthAlignment
from .exponents import L, N, canonical_kind, fmt
from .optimizers import get_optimizer
from .optimizers.muon import Muon

Number = Any  # int | Fraction | sympy.Expr | str such as "1/2"


class FrozenMap(Mapping):
    """A read-only mapping (hashable, picklable): derived results are shared through the cache,
    so nothing a caller holds may change them (``r.layers["hidden"] = None`` raises)."""

    __slots__ = ("_data",)
    _data: dict[Any, Any]

    def __init__(self, data: Mapping | None = None) -> None:
        object.__setattr__(self, "_data", dict(data or {}))

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self) -> Iterator:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(tuple(self._data.items()))

    def __setattr__(self, name, value):
        raise AttributeError("derived rules are read-only; build a new one (with_c, derive)")

    def __reduce__(self):
        return (FrozenMap, (self._data,))

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


@dataclass(frozen=True)
class LayerRule:
    """One layer kind's exponents: multiplier n^-a, init std n^-b, LR n^-c, Adam eps n^-eps,
    weight decay n^-wd.

    ``r`` is the exponent of the layer's feature change after an update (dz = Theta(n^-r));
    ``why`` maps each of "a", "b", "c", "eps", "wd", "r" to the sentence that justifies it;
    ``optimizer`` names this kind's optimizer (they differ per kind in a plan such as Muon's).
    These are WIDTH exponents.  ``depth`` holds the separate DEPTH exponents (factor L^-e) of
    "a", "b", "c", "eps", "wd" and "r" (the block's own feature change) when the rules were
    derived with a residual-branch exponent alpha (engine/depth.py), else it is empty; their
    reasons are ``why["c_L"]`` etc.  ``factor("c")`` joins both: ``n**-c * L**-c_L``.

    >>> from abcparam import rules
    >>> hidden = rules("mup", optimizer="adam")["hidden"]
    >>> hidden.a, hidden.b, hidden.c, hidden.eps, hidden.r
    (0, 1/2, 1, 1, 0)
    """

    kind: str
    a: sympy.Expr
    b: sympy.Expr
    c: sympy.Expr
    eps: sympy.Expr | None
    r: sympy.Expr
    why: Mapping[str, str]
    wd: sympy.Expr | None = None
    optimizer: str = ""

    depth: Mapping[str, sympy.Expr | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "why", FrozenMap(self.why))
        object.__setattr__(self, "depth", FrozenMap(self.depth))

    def factor(self, name: str) -> sympy.Expr | None:
        """The joint scale of one quantity ("a" multiplier, "b" init std, "c" LR, "eps", "wd"):
        ``n**-width * L**-depth`` (no depth part without depth rules); None when it has none."""
        if name not in DEPTH_FIELDS:
            raise ValueError(f"unknown exponent {name!r}; accepted: {', '.join(DEPTH_FIELDS)}")
        width = getattr(self, name, None)
        depth = self.depth.get(name, sympy.Integer(0)) if self.depth else sympy.Integer(0)
        if width is None or depth is None:
            return None
        return N ** (-width) * L ** (-depth)

    @property
    def lr_factor(self) -> sympy.Expr:
        """The learning-rate scale ``n**-c * L**-c_L``."""
        return self.factor("c")

    @property
    def eps_factor(self) -> sympy.Expr | None:
        """Adam's epsilon scale ``n**-eps * L**-eps_L`` (None without an epsilon)."""
        return self.factor("eps")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "a": fmt(self.a),
            "b": fmt(self.b),
            "c": fmt(self.c),
            "eps": None if self.eps is None else fmt(self.eps),
            "wd": None if self.wd is None else fmt(self.wd),
            "r": fmt(self.r),
            "optimizer": self.optimizer,
            "why": dict(self.why),
        }
        if self.depth:
            out["depth"] = {k: None if v is None else fmt(v) for k, v in self.depth.items()}
        return out


@dataclass(frozen=True)
class RulesData:
    """The fields of a derived parametrization and their plain accessors; :class:`Rules`
    (rules_table.py) adds the views (tables, front) and variants on top, so that the modules
    computing those views can read this type without importing the class that calls them."""

    scheme: str | None
    optimizer: str
    alignment: Alignment
    layers: Mapping[str, LayerRule]
    attention_logit_exponent: sympy.Expr
    attention_why: str
    regime: str
    lr_mode: str = "per-layer"
    hidden_layers: int = 2
    r_chain: tuple[sympy.Expr, ...] = ()
    conventions: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    depth_alpha: sympy.Expr | None = None
    depth_alignment: DepthAlignment | None = None
    depth_constraints: tuple[Constraint, ...] = ()
    depth_regime: str = ""
    depth_why: str = ""
    outside_depth: Mapping[str, sympy.Expr | None] = field(default_factory=dict)
    weight_decay: str = "coupled"
    update_view: str = "spectral"

    @property
    def has_depth(self) -> bool:
        """Whether depth exponents were derived (a residual-branch exponent alpha was given)."""
        return self.depth_alpha is not None

    @property
    def branch_multiplier(self) -> sympy.Expr:
        """The residual-branch multiplier L**-alpha (1 without depth rules)."""
        return sympy.Integer(1) if self.depth_alpha is None else L ** (-self.depth_alpha)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", FrozenMap(self.layers))
        object.__setattr__(self, "r_chain", tuple(self.r_chain))
        object.__setattr__(self, "outside_depth", FrozenMap(self.outside_depth))

    # -- access -------------------------------------------------------------------------------
    def __getitem__(self, kind: str) -> LayerRule:
        return self.layers[canonical_kind(kind)]

    def __iter__(self):
        return iter(self.layers.values())

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.layers)

    @property
    def symmetry_k(self) -> int:
        """The abc-symmetry's k (the hidden kind's, where optimizers differ per kind)."""
        return get_optimizer(self.optimizer).symmetry_k

    def symmetry(self, kind: str) -> int:
        """The abc-symmetry's k of one kind: c -> c - k*theta (TP-V Lemma J.1)."""
        return get_optimizer(self.optimizer).symmetry(canonical_kind(kind))

    @property
    def optimizers(self) -> dict[str, str]:
        """The optimizer of every kind."""
        return {kind: rule.optimizer for kind, rule in self.layers.items()}

    def exponents(self, name: str) -> dict[str, sympy.Expr]:
        """One exponent ("a", "b", "c", "eps" or "r") for every kind."""
        return {kind: getattr(rule, name) for kind, rule in self.layers.items()}

    @property
    def has_spectral_update(self) -> bool:
        """Whether some kind uses an orthogonalised (Muon) update, whose view matters."""
        opt = get_optimizer(self.optimizer)
        return any(isinstance(opt.optimizer_for(kind), Muon) for kind in self.layers)
