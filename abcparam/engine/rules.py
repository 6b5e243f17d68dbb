"""The public face of the engine: ``rules`` / ``derive`` return a :class:`Rules` table.

Flow: a scheme (schemes.py) names (a, b) and conventions -> ``derive`` checks stability at init and
solves for c (solve.py) -> the epsilon exponent and attention-logit scale follow -> :class:`Rules`
renders itself (markdown, LaTeX, JSON) and explains every exponent (``rule.why``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import sympy

from .alignment import HALF, Alignment, make_alignment
from .depth import DEPTH_FIELDS, Constraint, DepthAlignment, derive_depth, make_depth_alignment
from .exponents import (
    CORE_KINDS,
    EMBEDDING,
    HIDDEN,
    LAYER_KINDS,
    READOUT,
    VECTOR_KINDS,
    L,
    N,
    canonical_kind,
    exact,
    fmt,
)
from .minmax import sign_on_box, smin
from .optimizers import (
    UPDATE_VIEWS,
    WEIGHT_DECAY_CONVENTIONS,
    PerKind,
    UpdateModel,
    canonical_name,
    get_optimizer,
)
from .optimizers.base import gradient_exponent
from .optimizers.muon import Muon
from .recursion import Chain
from .schemes import get_scheme
from .solve import Solution, analyze_chain, derive_exponents, derive_shared_lr, update_exponents

Number = Any  # int | Fraction | sympy.Expr | str such as "1/2"
LR_MODES = ("per-layer", "shared")
#: old names still accepted, with a DeprecationWarning: "global" meant the shared c
REQUIREMENTS = ("nontrivial", "feature-learning")


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
class Rules:
    """A derived parametrization: per-kind :class:`LayerRule` plus what it was derived under.

    >>> r = rules("mup", optimizer="adam")
    >>> r.exponents("c")["readout"], r.regime
    (1/2, 'feature learning in every layer (all r = 0)')
    """

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

    @property
    def has_depth(self) -> bool:
        """Whether depth exponents were derived (a residual-branch exponent alpha was given)."""
        return self.depth_alpha is not None

    @property
    def branch_multiplier(self) -> sympy.Expr:
        """The residual-branch multiplier L**-alpha (1 without depth rules)."""
        return sympy.Integer(1) if self.depth_alpha is None else L ** (-self.depth_alpha)

    weight_decay: str = "coupled"
    update_view: str = "spectral"

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

    # -- variants ------------------------------------------------------------------------------
    def with_c(self, c: Mapping[str, Number] | Number) -> Rules:
        """Same a, b and alignment, learning-rate exponents given instead of derived (e.g. SP with
        one width-independent LR: ``with_c(0)``); r and the regime are recomputed."""
        given = c if isinstance(c, Mapping) else {kind: c for kind in self.layers}
        new_c = {kind: rule.c for kind, rule in self.layers.items()}
        for kind, value in given.items():
            new_c[canonical_kind(kind)] = exact(value, f"{kind} c")
        named = {canonical_kind(k) for k in given}
        if EMBEDDING in named:  # vector-like kinds follow the embedding unless named
            for kind in set(VECTOR_KINDS) - named:
                new_c[kind] = new_c[EMBEDDING]
        a, b = self.exponents("a"), self.exponents("b")
        opt = get_optimizer(self.optimizer)
        chain = Chain.mlp(self.hidden_layers)
        r_chain = analyze_chain(a, b, new_c, opt, self.alignment, chain, view=self.update_view)
        syms = self.alignment.symbols
        r_kind = {
            kind: smin([r_chain[p] for p in chain.positions(kind)], syms) for kind in CORE_KINDS
        }
        for kind in VECTOR_KINDS:  # added straight onto features: r = k
            r_kind[kind] = update_exponents(a, b, new_c, opt, Chain((kind,)), syms)[0]
        layers = {}
        for kind, rule in self.layers.items():
            wd, wd_why = opt.wd_exponent(kind, new_c[kind], self.weight_decay)
            why = dict(
                rule.why,
                wd=wd_why,
                c=f"c = {fmt(new_c[kind])}: given by the user (not derived)",
                r=f"r = {fmt(r_kind[kind])}: from the recursion at the given c"
                + (
                    " — negative: the features blow up with width"
                    if sign_on_box(r_kind[kind], syms) == -1
                    else ""
                ),
            )
            layers[kind] = replace(rule, c=new_c[kind], r=r_kind[kind], wd=wd, why=why)
        return replace(
            self,
            layers=layers,
            lr_mode="given",
            r_chain=tuple(r_chain),
            regime=_regime(layers, syms),
        )

    # -- rendering ------------------------------------------------------------------------------
    def title(self) -> str:
        name = self.scheme or "custom (a, b)"
        depth = (
            ""
            if self.depth_alpha is None
            else f" · depth: branch L^-{fmt(self.depth_alpha)}, "
            f"{self.depth_alignment.describe()} blocks"  # type: ignore[union-attr]
        )
        return (
            f"{name} · {self.optimizer} · alignment {self.alignment.describe()}"
            + (f" · {self.update_view} view" if self.has_spectral_update else "")
            + ("" if self.lr_mode == "per-layer" else f" · LR {self.lr_mode}")
            + depth
        )

    @property
    def has_spectral_update(self) -> bool:
        """Whether some kind uses an orthogonalised (Muon) update, whose view matters."""
        opt = get_optimizer(self.optimizer)
        return any(isinstance(opt.optimizer_for(kind), Muon) for kind in self.layers)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every exponent as a string such as "1/2"."""
        return {
            "scheme": self.scheme,
            "optimizer": self.optimizer,
            "alignment": self.alignment.to_dict(),
            "lr_mode": self.lr_mode,
            "weight_decay": self.weight_decay,
            "update_view": self.update_view,
            "hidden_layers": self.hidden_layers,
            "regime": self.regime,
            "attention_logit_exponent": fmt(self.attention_logit_exponent),
            "conventions": list(self.conventions),
            "notes": list(self.notes),
            "layers": {kind: rule.to_dict() for kind, rule in self.layers.items()},
            **(
                {
                    "depth": {
                        "alpha": fmt(self.depth_alpha),
                        "branch_multiplier": str(self.branch_multiplier),
                        "alignment": self.depth_alignment.name,  # type: ignore[union-attr]
                        "beta": fmt(self.depth_alignment.beta),  # type: ignore[union-attr]
                        "regime": self.depth_regime,
                        "why_alpha": self.depth_why,
                        "outside_blocks": {
                            k: None if v is None else fmt(v) for k, v in self.outside_depth.items()
                        },
                        "constraints": [
                            {"name": c.name, "condition": str(c.condition), "why": c.why}
                            for c in self.depth_constraints
                        ],
                    }
                }
                if self.has_depth
                else {}
            ),
        }

    def _per_kind(self) -> bool:
        return len(set(self.optimizers.values())) > 1

    def to_markdown(self, why: bool = False) -> str:
        if self.has_depth:
            return self._depth_markdown(why)
        per_kind = self._per_kind()
        head = (
            "| layer |"
            + (" optimizer |" if per_kind else "")
            + " a | b | c | eps | wd | r |"
            + (" why c | why wd |" if why else "")
        )
        rule_line = (
            "|---|" + ("---|" if per_kind else "") + "---|" * 6 + ("---|---|" if why else "")
        )
        rows = [f"**{self.title()}**", "", head, rule_line]
        for kind, rule in self.layers.items():
            row = (
                f"| {kind} |"
                + (f" {rule.optimizer} |" if per_kind else "")
                + f" {fmt(rule.a)} | {fmt(rule.b)} | {fmt(rule.c)} | {fmt(rule.eps)} "
                f"| {fmt(rule.wd)} | {fmt(rule.r)} |"
            )
            rows.append(row + (f" {rule.why['c']} | {rule.why['wd']} |" if why else ""))
        rows += [
            "",
            f"Attention logits: q·k · d_head^-({fmt(self.attention_logit_exponent)}). "
            f"Regime: {self.regime}. Weight decay lambda ~ n^-wd ({self.weight_decay} convention).",
        ]
        rows += [f"Note: {note}" for note in self.notes]
        return "\n".join(rows)

    def _depth_markdown(self, why: bool) -> str:
        """Both exponents per layer: each cell "width | depth" (factor n^-w L^-d)."""
        names = ("a", "b", "c", "eps", "wd", "r")
        head = "| layer | " + " | ".join(f"{x} (n, L)" for x in names) + " |"
        head += " why c_L |" if why else ""
        rule_line = "|---|" + "---|" * len(names) + ("---|" if why else "")
        rows = [f"**{self.title()}**", "", head, rule_line]
        for kind, rule in self.layers.items():
            cells = []
            for x in names:
                width = getattr(rule, x, None)
                w = "·" if x == "wd" and width is None else fmt(width)
                cells.append(f"{w}, {fmt(rule.depth.get(x))}")
            row = f"| {kind} | " + " | ".join(cells) + " |"
            rows.append(row + (f" {rule.why['c_L']} |" if why else ""))
        outside = ", ".join(f"{k}_L = {fmt(v)}" for k, v in self.outside_depth.items())
        rows += [
            "",
            f"Each cell: width exponent, depth exponent (factor n^-w · L^-d). Residual branch "
            f"multiplier {self.branch_multiplier} (alpha: {self.depth_why}). Parameters "
            f"outside the blocks (embedding, readout, final norm): {outside}.",
            f"Attention logits: q·k · d_head^-({fmt(self.attention_logit_exponent)}). "
            f"Regime: {self.regime}; {self.depth_regime}.",
        ]
        return "\n".join(rows)

    def to_latex(self) -> str:
        per_kind = self._per_kind()
        lines = [
            r"\begin{tabular}{l" + ("l" if per_kind else "") + "cccccc}",
            r"\hline",
            "layer & "
            + ("optimizer & " if per_kind else "")
            + r"$a$ & $b$ & $c$ & $\epsilon$ & $\lambda$ & $r$ \\",
            r"\hline",
        ]
        for kind, rule in self.layers.items():
            cells = [
                f"${sympy.latex(v)}$" if v is not None else "--"
                for v in (rule.a, rule.b, rule.c, rule.eps, rule.wd, rule.r)
            ]
            if per_kind:
                cells.insert(0, rule.optimizer)
            lines.append(f"{kind} & " + " & ".join(cells) + r" \\")
        lines += [r"\hline", r"\end{tabular}"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    @functools.cached_property
    def front(self) -> tuple[Mapping[str, sympy.Expr], ...]:
        """The Pareto front of largest learning rates (its vertices), numeric alignment only
        (read-only, like the rest of a cached result)."""
        from .front import pareto_front

        return tuple(FrozenMap(point) for point in pareto_front(self))


def _regime(layers: Mapping[str, LayerRule], syms) -> str:
    signs = {kind: sign_on_box(rule.r, syms) for kind, rule in layers.items()}
    if any(v == -1 for v in signs.values()):
        bad = ", ".join(f"{k} (r = {fmt(layers[k].r)})" for k, v in signs.items() if v == -1)
        return f"unstable: features blow up in {bad}"
    if all(v == 0 for v in signs.values()):
        return "feature learning in every layer (all r = 0)"
    if any(v is None for v in signs.values()):
        return "depends on the alignment: r = " + ", ".join(
            f"{k}: {fmt(layers[k].r)}" for k in layers
        )
    if signs[READOUT] == 1:
        bound = " > 0" if not layers[READOUT].r.free_symbols else ", positive unless it vanishes"
        return f"trivial logits (r_readout = {fmt(layers[READOUT].r)}{bound})"
    kernel = [f"{k} (r = {fmt(layers[k].r)})" for k, v in signs.items() if v == 1]
    return "kernel-like layers: " + ", ".join(kernel)


#: Adam's epsilon exponent now lives with the optimizer (optimizers/base.py); kept for callers.
_eps_exponent = gradient_exponent


def _attention(sol: Solution, alignment: Alignment, conventions: dict) -> tuple[sympy.Expr, str]:
    if "attention_logit" in conventions:
        value, why = conventions["attention_logit"]
        return value, f"convention: {why}"
    alpha = alignment.at(HIDDEN).alpha
    if sign_on_box(sol.r[HIDDEN], alignment.symbols) == 0:
        return alpha, (
            f"q and k both move by Theta(1) and become correlated: q·k sums d_head "
            f"terms aligned with exponent alpha = {fmt(alpha)}, so the logit scale is "
            f"d_head^-{fmt(alpha)} (TP-V Def. 4.1: 1/d under full alignment)"
        )
    half = HALF
    return half, (
        "hidden features barely move (r > 0), so q and k stay as independent as at "
        "init: q·k ~ sqrt(d_head), scale d_head^-1/2"
    )


def _decay_note(kind: str, a, b, r, wd, syms) -> str:
    """Whether the decay, not the update, moves this layer's features at large width.

    Both conventions keep the per-step decay fraction width-independent (coupled: lr*lambda,
    independent: lambda), so one step of decay changes the layer's output by that fraction of
    its output at init, n^-(a+b) for the embedding and n^(1/2-(a+b)) for a width-n sum, against
    the update's n^-r.  When the first is larger the decay dominates the feature change."""
    if wd is None or kind not in CORE_KINDS or r is None:
        return ""
    init = a + b if kind == EMBEDDING else a + b - HALF  # the output at init is n^-init
    if sign_on_box(sympy.expand(r - init), syms) != 1:
        return ""
    return (
        f"; note: one step of decay changes this layer's output by a width-independent fraction "
        f"of its output at init, n^-({fmt(init)}), which outgrows the update's n^-({fmt(r)}): at "
        f"large width the decay, not the gradient, sets this layer's feature change (reduce "
        f"lambda with width as n^-({fmt(sympy.expand(r - init))}) to keep them matched)"
    )


def derive(
    a: Mapping[str, Number],
    b: Mapping[str, Number],
    optimizer: str = "adam",
    alignment: Any = "full",
    *,
    hidden_layers: int = 2,
    lr: str = "per-layer",
    conventions: Mapping[str, tuple[Number, str]] | None = None,
    require: str | None = None,
    scheme: str | None = None,
    depth_alpha: Number | None = None,
    depth_alignment: Any = "coherent",
    depth_why: str = "given by the user",
    weight_decay: str = "coupled",
    update_view: str = "spectral",
) -> Rules:
    """Derive c, the epsilon and weight-decay exponents and the regime for any (a, b) per kind.

    ``a`` and ``b`` name the kinds embedding/hidden/readout (aliases input/output); bias and norm
    default to the embedding's.  ``optimizer`` is a name or a per-kind plan such as
    ``{"hidden": "muon", "default": "adamw"}``.  ``lr="shared"`` asks for the largest stable c
    shared by every layer (TP-IV Def. 3.2); ``require`` is
    None, "nontrivial" (r_readout = 0) or "feature-learning" (every r = 0).
    ``weight_decay``: "coupled" (lr*lambda width-independent) or "independent" (lambda
    width-independent); ``update_view``: "spectral" (an orthogonalised update meets the named
    spectral alignment) or "entry" (the given alignment, as for Adam) -- Muon only.
    ``depth_alpha`` (a number or a sympy Symbol) adds residual branches ``L^-alpha`` and derives
    every layer's depth exponents under ``depth_alignment`` ("coherent", "independent", a number,
    a Symbol).

    >>> sp = derive(a={"embedding": 0, "hidden": 0, "readout": 0},
    ...             b={"embedding": 0, "hidden": "1/2", "readout": "1/2"}, optimizer="adam")
    >>> [str(sp[kind].c) for kind in ("embedding", "hidden", "readout")]
    ['0', '1', '1']
    """
    opt = get_optimizer(optimizer)
    align = make_alignment(alignment)
    hidden_layers = _hidden_layers(hidden_layers)
    if weight_decay not in WEIGHT_DECAY_CONVENTIONS:
        raise ValueError(
            f"weight_decay = {weight_decay!r}; accepted: {', '.join(WEIGHT_DECAY_CONVENTIONS)}"
        )
    if update_view not in UPDATE_VIEWS:
        raise ValueError(f"update_view = {update_view!r}; accepted: {', '.join(UPDATE_VIEWS)}")
    a_full, b_full = _complete(a, "a"), _complete(b, "b")
    conv = {key: (exact(v, key), why) for key, (v, why) in (conventions or {}).items()}
    lr = _lr_mode(lr)
    chain = Chain.mlp(hidden_layers)
    if lr == "shared":
        sol = derive_shared_lr(a_full, b_full, opt, align, chain, update_view)
    else:
        sol = derive_exponents(a_full, b_full, opt, align, chain, conv, update_view)
    attention, attention_why = _attention(sol, align, conv)
    layers = {}
    notes = []
    for kind in LAYER_KINDS:
        eps = opt.eps_exponent(kind, a_full, b_full)
        wd, wd_why = opt.wd_exponent(kind, sol.c[kind], weight_decay)
        wd_why += _decay_note(kind, a_full[kind], b_full[kind], sol.r[kind], wd, align.symbols)
        why_c = sol.why_c[kind] + _view_note(opt, kind, align, update_view)
        why = {
            "a": f"a = {fmt(a_full[kind])}: given ({scheme or 'user'})",
            "b": f"b = {fmt(b_full[kind])}: given ({scheme or 'user'})",
            "c": why_c,
            "eps": opt.eps_why(kind, eps),
            "wd": wd_why,
            "r": sol.why_r[kind],
        }
        layers[kind] = LayerRule(
            kind,
            a_full[kind],
            b_full[kind],
            sol.c[kind],
            eps,
            sol.r[kind],
            why,
            wd=wd,
            optimizer=opt.optimizer_for(kind).name,
        )
    if isinstance(opt, PerKind) and "=" not in canonical_name(optimizer):
        notes.append(
            f"{optimizer!r} orthogonalises matrices and is meant for hidden layers: the other "
            f"kinds use {opt.optimizer_for(EMBEDDING).name} (plan {opt.name})"
        )
    syms = align.symbols
    result = Rules(
        scheme=scheme,
        optimizer=opt.name,
        alignment=align,
        layers=layers,
        attention_logit_exponent=attention,
        attention_why=attention_why,
        regime=_regime(layers, syms),
        lr_mode=lr,
        hidden_layers=hidden_layers,
        r_chain=tuple(sol.r_chain),
        conventions=tuple(conv),
        notes=tuple(notes),
        weight_decay=weight_decay,
        update_view=update_view,
    )
    _check_requirement(result, require, syms)
    if depth_alpha is not None:
        return with_depth(result, depth_alpha, depth_alignment, depth_why)
    make_depth_alignment(depth_alignment)  # still reject a bad value
    return result


def with_depth(
    width_rules: Rules, alpha: Number, alignment: Any = "coherent", why: str = "given by the user"
) -> Rules:
    """``width_rules`` plus residual branches ``L^-alpha``: every layer's depth exponents derived
    (engine/depth.py) beside its unchanged width exponents."""
    dsol = derive_depth(alpha, get_optimizer(width_rules.optimizer), alignment)
    layers = {}
    for kind, rule in width_rules.layers.items():
        reasons = dict(rule.why, **{f"{k}_L": text for k, text in dsol.why[kind].items()})
        layers[kind] = replace(rule, depth=dict(dsol.exponents[kind]), why=reasons)
    return replace(
        width_rules,
        layers=layers,
        depth_alpha=dsol.alpha,
        depth_alignment=dsol.alignment,
        depth_constraints=dsol.constraints,
        depth_regime=dsol.regime,
        depth_why=why,
        outside_depth=dsol.outside,
    )


def _view_note(opt: UpdateModel, kind: str, align: Alignment, view: str) -> str:
    """Which view an orthogonalised update was derived under, and what it changed."""
    if not isinstance(opt.optimizer_for(kind), Muon) or kind not in (HIDDEN, READOUT):
        return ""
    given = align.at(kind)
    used = opt.effective_triple(kind, given, view)
    assert used is not None  # hidden and readout always carry a triple
    if view == "entry":
        return (
            f" [entry view: the assumed alignment alpha = {fmt(given.alpha)}, u = {fmt(given.u)}"
            f" applied to the update's entries, as for Adam]"
        )
    return (
        f" [spectral view (named assumption 'spectral alignment'): an orthogonalised full-rank "
        f"update acting on inputs in its row space gives dW·z ~ ||dW||_op, i.e. alpha = u = "
        f"{fmt(used.alpha)} relative to its entries (the entry view would take "
        f"{fmt(given.alpha)})]"
    )


def _hidden_layers(count: Any) -> int:
    """``count`` checked: a positive int up to MAX_HIDDEN_LAYERS (the exponents settle after a
    few layers while the derivation's time grows with the count)."""
    from .. import validate

    count = validate.positive_int(count, "hidden_layers")
    if count > validate.MAX_HIDDEN_LAYERS:
        raise ValueError(
            f"hidden_layers = {count}; accepted: at most {validate.MAX_HIDDEN_LAYERS} (the "
            f"exponents do not change past a few; the derivation time grows with the count)"
        )
    return count


def _complete(given: Mapping[str, Number], name: str) -> dict[str, sympy.Expr]:
    if not isinstance(given, Mapping):
        raise TypeError(
            f"{name} must map layer kinds to exponents, e.g. "
            f"{{'embedding': 0, 'hidden': '1/2', 'readout': '1/2'}}; got {given!r}"
        )
    out: dict[str, sympy.Expr] = {}
    named: dict[str, str] = {}
    for kind, value in given.items():
        canon = canonical_kind(kind)
        if canon in out:  # "input" and "embedding" both given: which one was meant?
            raise ValueError(
                f"{name} gives {named[canon]!r} and {kind!r}, two names of the {canon} kind; "
                f"give one"
            )
        out[canon], named[canon] = exact(value, f"{kind} {name}"), str(kind)
    missing = [kind for kind in CORE_KINDS if kind not in out]
    if missing:
        raise ValueError(f"{name} is missing layer kinds {missing}; give all of {CORE_KINDS}")
    for kind in VECTOR_KINDS:
        out.setdefault(kind, out[EMBEDDING])
    return out


def _check_requirement(result: Rules, require: str | None, syms) -> None:
    if require is None:
        return
    if require not in REQUIREMENTS:
        raise ValueError(f"require = {require!r}; accepted: {', '.join(REQUIREMENTS)} or None")
    kinds = [READOUT] if require == "nontrivial" else list(result.layers)
    for kind in kinds:
        if sign_on_box(result[kind].r, syms) != 0:
            raise ValueError(
                f"{require} cannot hold for {result.title()}: {kind} has r = {fmt(result[kind].r)} "
                f"> 0 at the largest stable learning rate ({result[kind].why['r']})"
            )


def _lr_mode(lr: str) -> str:
    """``lr`` checked against LR_MODES (one meaning per name: no aliases)."""
    if lr not in LR_MODES:
        raise ValueError(f"lr = {lr!r}; accepted: {', '.join(LR_MODES)}")
    return lr


#: "derived": the engine's per-layer c; "constant": one width-independent LR (c = 0 everywhere)
LR_EXPONENTS = ("derived", "constant")


def rules_for_exponents(rules: Rules, lr_exponents: str) -> Rules:
    """``rules`` as given ("derived") or with c = 0 in every layer ("constant": one
    width-independent LR, the SP baseline muTransfer improves on); the one place both the built-in
    and the user-model coordinate checks turn ``lr_exponents`` into rules."""
    if lr_exponents == "constant":
        return rules.with_c(0)
    if lr_exponents != "derived":
        raise ValueError(f"lr_exponents = {lr_exponents!r}; accepted: {', '.join(LR_EXPONENTS)}")
    return rules


@functools.lru_cache(maxsize=512)
def _rules_cached(
    scheme_name: str,
    optimizer: str,
    alignment: Alignment,
    hidden_layers: int,
    lr: str,
    require: str | None,
    conventions: bool,
    weight_decay: str,
    update_view: str,
) -> Rules:
    scheme = get_scheme(scheme_name)
    conv = dict(scheme.conventions) if conventions else {}
    return derive(
        scheme.a,
        scheme.b,
        optimizer,
        alignment,
        hidden_layers=hidden_layers,
        lr=lr,
        conventions={k: (v, why) for k, (v, why) in conv.items()},
        require=require,
        scheme=scheme.name,
        weight_decay=weight_decay,
        update_view=update_view,
    )


@functools.lru_cache(maxsize=1024)
def _depth_cached(
    width_key: tuple, alpha: sympy.Expr, alignment: DepthAlignment, why: str
) -> Rules:
    return with_depth(_rules_cached(*width_key), alpha, alignment, why)


def _depth_choice(scheme, depth: bool | None, depth_alpha: Number | None):
    """(alpha, why) from the arguments: an explicit ``depth_alpha`` wins; ``depth=True`` takes the
    scheme's own residual rule; by default only Depth-μP / CompleteP carry one."""
    if depth not in (None, True, False):
        raise ValueError(f"depth = {depth!r}; accepted: True, False or None")
    if depth_alpha is not None:
        if depth is False:
            raise ValueError("depth=False contradicts depth_alpha; give one of them")
        return exact(depth_alpha, "depth_alpha"), "given by the user (depth_alpha)"
    if depth is False or scheme.depth_alpha is None and depth is None:
        return None, ""
    if scheme.depth_alpha is None:
        raise ValueError(
            f"scheme {scheme.name!r} has no depth rule of its own; give depth_alpha= (e.g. 1/2 or "
            f"1) or use a scheme that has one: depth-mup, completep, u-mup (depth=True)"
        )
    if depth is None and not scheme.depth_by_default:
        return None, ""
    return scheme.depth_alpha


def rules(
    scheme: str,
    optimizer: str | Mapping[str, str] = "adam",
    alignment: Any = "full",
    *,
    hidden_layers: int = 2,
    lr: str = "per-layer",
    require: str | None = None,
    conventions: bool = True,
    depth: bool | None = None,
    depth_alpha: Number | None = None,
    depth_alignment: Any = "coherent",
    weight_decay: str = "coupled",
    update_view: str = "spectral",
) -> Rules:
    """Derived rules of a named scheme ("sp", "ntp", "mfp", "mup", "u-mup", "depth-mup",
    "completep" and aliases).

    ``optimizer``: a name (``OPTIMIZERS``) or a per-kind plan ``{"hidden": "muon", "default":
    "adamw"}``; "muon" alone means that plan.  ``weight_decay`` and ``update_view``: see
    :func:`derive`.  ``conventions=False`` drops a scheme's named conventions (u-muP's empirical
    embedding rate, SP's 1/sqrt(d) attention) and derives those exponents too.  Depth:
    "depth-mup" (alpha = 1/2, TP-VI) and "completep" (alpha = 1, CompleteP) carry residual
    branches ``L^-alpha``; ``depth=True`` adds a scheme's own depth rule (u-μP's);
    ``depth_alpha=`` (a number or a sympy Symbol) sets alpha on any scheme; ``depth_alignment``
    says how the blocks' updates add ("coherent" L^1, "independent" L^(1/2), a number or a
    Symbol).  Cached (the result is read-only): repeats < 1 ms.

    >>> r = rules("mup", optimizer="sgd", alignment="none")
    >>> [str(r[kind].c) for kind in ("embedding", "hidden", "readout")]
    ['1/2', '0', '-1/2']
    """
    from .. import validate

    sch = get_scheme(scheme)
    opt = canonical_name(optimizer)
    validate.boolean(conventions, "conventions")
    if depth is not None:
        validate.boolean(depth, "depth")
    hidden_layers = _hidden_layers(hidden_layers)
    alpha, why = _depth_choice(sch, depth, depth_alpha)
    depth_align = make_depth_alignment(depth_alignment)
    width_key = (
        sch.name,
        opt,
        make_alignment(alignment),
        hidden_layers,
        _lr_mode(lr),
        require,
        conventions,
        weight_decay,
        update_view,
    )
    if alpha is None:
        return _rules_cached(*width_key)
    return _depth_cached(width_key, alpha, depth_align, why)


def equivalent(first: Rules, second: Rules) -> bool:
    """True when ``second`` is ``first`` moved along the abc-symmetry (TP-V Lemma J.1):
    (a, b, c, eps) -> (a + t, b - t, c - k t, eps + t) per kind, k = 2 SGD, 1 Adam, 0 Adafactor.

    >>> equivalent(rules("mup", optimizer="adam"), rules("mfp", optimizer="adam"))
    True
    """
    for name, value in (("first", first), ("second", second)):
        if not isinstance(value, Rules):
            hint = (
                f"; for a scheme name use abcparam.rules({value!r}, ...)"
                if isinstance(value, str)
                else ""
            )
            raise TypeError(
                f"equivalent compares two Rules; {name} is {value!r} ({type(value).__name__})"
                + hint
            )
    if first.optimizer != second.optimizer or first.alignment != second.alignment:
        return False
    if first.weight_decay != second.weight_decay or first.update_view != second.update_view:
        return False
    for kind in first.layers:
        k = first.symmetry(kind)
        one, two = first[kind], second[kind]
        theta = two.a - one.a
        checks = [two.b - (one.b - theta), two.c - (one.c - k * theta), two.r - one.r]
        if one.eps is not None or two.eps is not None:
            if one.eps is None or two.eps is None:
                return False
            checks.append(two.eps - (one.eps + theta))
        if any(sympy.simplify(x) != 0 for x in checks):
            return False
    return sympy.simplify(first.attention_logit_exponent - second.attention_logit_exponent) == 0


#: Named coordinate systems: the target of the symmetry shift per kind, from a rule's (a, b).
COORDINATES = {
    # TP-V Table 3: no multipliers, every scale in the init (a = 0).
    "no-multipliers": lambda kind, rule: -rule.a,
    # TP-V Table 8 / microsoft/mup's MuReadout: multiplier only on the readout, whose init is 1.
    "readout-multiplier": lambda kind, rule: rule.b if kind == READOUT else -rule.a,
    # u-muP (Blake et al. 2024): unit init everywhere (b = 0), every scale in the multiplier.
    "unit-scaled": lambda kind, rule: rule.b,
    # Everett et al. 2024's muP form, the engine's canonical one: left unchanged.
    "everett": lambda kind, rule: sympy.Integer(0),
}


def reparametrize(
    rules_: Rules,
    *,
    theta: Mapping[str, Number] | None = None,
    a: Mapping[str, Number] | None = None,
    coordinates: str | None = None,
) -> Rules:
    """The same parametrization in other coordinates: shift each kind by theta, to a target
    multiplier exponent ``a``, or into a named system (``COORDINATES``: "no-multipliers" = TP-V
    Table 3, "readout-multiplier" = TP-V Table 8, "unit-scaled" = u-muP) along the abc-symmetry;
    dynamics, r and regime are unchanged.

    >>> tp5 = reparametrize(rules("mup", optimizer="adam"), coordinates="no-multipliers")
    >>> [(str(tp5[k].a), str(tp5[k].c)) for k in ("embedding", "hidden", "readout")]
    [('0', '0'), ('0', '1'), ('0', '1')]
    """
    if sum(x is not None for x in (theta, a, coordinates)) != 1:
        raise ValueError("give exactly one of theta=, a= or coordinates=")
    shifts = {kind: sympy.Integer(0) for kind in rules_.layers}
    if theta is not None:
        for kind, value in theta.items():
            shifts[canonical_kind(kind)] = exact(value, f"theta[{kind}]")
    elif a is not None:
        for kind, value in a.items():
            kind = canonical_kind(kind)
            shifts[kind] = exact(value, f"a[{kind}]") - rules_[kind].a
    else:
        if coordinates not in COORDINATES:
            raise ValueError(
                f"unknown coordinates {coordinates!r}; accepted: {', '.join(COORDINATES)}"
            )
        shifts = {
            kind: COORDINATES[coordinates](kind, rule) for kind, rule in rules_.layers.items()
        }
    opt = get_optimizer(rules_.optimizer)
    layers = {}
    for kind, rule in rules_.layers.items():
        k = rules_.symmetry(kind)
        t = shifts[kind]
        note = f" (shifted by theta = {fmt(t)} along the abc-symmetry, TP-V Lemma J.1)" if t else ""
        why = {key: text + note for key, text in rule.why.items()}
        c = sympy.expand(rule.c - k * t)
        wd, wd_why = opt.wd_exponent(kind, c, rules_.weight_decay)
        why["wd"] = wd_why + note
        layers[kind] = replace(
            rule,
            a=rule.a + t,
            b=rule.b - t,
            c=c,
            wd=wd,
            eps=None if rule.eps is None else sympy.expand(rule.eps + t),
            why=why,
        )
    return replace(rules_, layers=layers)
