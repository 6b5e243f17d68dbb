"""The constraint system behind a derivation, as data a reader can check by hand.

:func:`system` rebuilds, from the very functions the solver calls (``recursion.r_forms``, the
optimizer's ``update_forms``, ``solve.check_init_stability``), every step of a derivation (Everett
et al. 2024, Sec. 2 and its constraint table; TP-IV Sec. 3):

1. the update exponent k of each layer, in general (a, b, c) and for the scheme's (a, b);
2. the recursion of the feature-change exponent r, each term labelled (ΔW·z⁰, W⁰·Δz, ΔW·Δz) with
   the alignment exponent it carries;
3. the stability constraints (every r >= 0, the optimizer's own bounds) as linear inequalities in
   the learning-rate exponents c, and the maximal-update conditions (every r = 0);
4. the solution: c, epsilon, r per kind, which inequality is tight for each c, and the Pareto
   front of largest learning rates where the maxima trade off between layers.

Nothing here solves anything: the solution is the one :func:`abcparam.rules` derived, and the
system is what it satisfies.  See the book's "Conventions" page for the notation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sympy

from .alignment import Triple
from .derive import derive
from .exponents import CORE_KINDS, EMBEDDING, HIDDEN, READOUT
from .minmax import affine_row, sign_on_box
from .optimizers import UpdateModel, get_optimizer
from .recursion import Chain, Form, r_forms
from .rules import rules
from .rules_table import Rules
from .solve import INIT_STABILITY, triples_for, update_exponents

#: The three terms of a layer's feature change and the alignment variable each one carries.
TERMS: dict[str, tuple[str, str]] = {
    "dW·z0": ("alpha", r"\Delta W_l\, z^0_{l-1}"),
    "W0·dz": ("omega", r"W^0_l\, \Delta z_{l-1}"),
    "dW·dz": ("u", r"\Delta W_l\, \Delta z_{l-1}"),
}
_TERM_TEXT = {"dW·z0": "ΔW·z⁰", "W0·dz": "W⁰·Δz", "dW·dz": "ΔW·Δz"}
_GREEK = {"alpha": r"\alpha", "omega": r"\omega", "u": "u"}
_OPS = {"=": "=", ">=": r"\ge"}
_SHORT = {EMBEDDING: "emb", HIDDEN: "hid", READOUT: "out"}


def _tex(expr: sympy.Expr) -> str:
    return sympy.latex(sympy.sympify(expr))


def _describe_path(path: tuple[tuple[str, str], ...]) -> str:
    parts = []
    for layer, term in path:
        parts.append(f"{layer} {_TERM_TEXT.get(term, 'update')}")
    return " → ".join(parts) if parts else "—"


@dataclass(frozen=True)
class Term:
    """One term of a layer's r: its exponent, which product it is and its alignment variable."""

    product: str  # "dW·z0", "W0·dz" or "dW·dz"
    variable: str  # "alpha", "omega" or "u"
    alignment: sympy.Expr
    exponent: sympy.Expr  # in this layer's k and the layer below's r
    value: sympy.Expr | None  # at the derived solution

    @property
    def text(self) -> str:
        return _TERM_TEXT[self.product]


@dataclass(frozen=True)
class LayerStep:
    """One chain position: its update exponent and the recursion that gives its r."""

    name: str
    kind: str
    k: sympy.Expr  # with the scheme's a, b and symbolic c
    k_symbol: sympy.Symbol
    terms: tuple[Term, ...]  # empty for the embedding (r = k)
    r: sympy.Expr  # r at the derived solution
    r_prev: sympy.Symbol | None


@dataclass(frozen=True)
class Inequality:
    """``expr >= 0`` in the learning-rate exponents, with where it comes from."""

    expr: sympy.Expr
    source: str
    tight: bool | None  # at the derived solution; None when it depends on an alignment symbol

    def latex(self) -> str:
        lhs, rhs = _split(self.expr)
        return f"{_tex(lhs)} \\ge {_tex(rhs)}"


def _split(expr: sympy.Expr) -> tuple[sympy.Expr, sympy.Expr]:
    """``expr >= 0`` as ``(terms with c) >= (-constant)``, for reading."""
    expr = sympy.expand(expr)
    cs = [s for s in expr.free_symbols if str(s).startswith("c_") or str(s) == "c"]
    lhs = sum((expr.coeff(s) * s for s in sorted(cs, key=str)), sympy.Integer(0))
    return lhs, sympy.expand(lhs - expr)


@dataclass(frozen=True)
class ConstraintSystem:
    """Everything a derivation solved, as data: see the module docstring for the four parts."""

    title: str
    optimizer: str
    alignment: str
    lr_mode: str
    c_symbols: Mapping[str, sympy.Expr]  # kind -> symbol (or a fixed value for a convention)
    k_general: Mapping[str, sympy.Expr]  # kind -> k in symbolic a_l, b_l, c_l, G
    backward: sympy.Expr | None  # SGD's G for the scheme, in the c symbols
    init: tuple[tuple[str, sympy.Expr, str, sympy.Expr], ...]  # (kind, a + b, op, target)
    steps: tuple[LayerStep, ...]
    inequalities: tuple[Inequality, ...]
    bounds: tuple[Inequality, ...]  # the optimizer's own bounds on c
    implied: int  # forms that are trivially true or weaker than a listed one
    solution: Mapping[str, Mapping[str, Any]]  # kind -> c, k, r, eps and their why
    tight: Mapping[str, tuple[str, ...]]  # kind -> the tight inequalities its c sits on
    front: tuple[Mapping[str, sympy.Expr], ...] | None
    regime: str
    conventions: tuple[str, ...]

    # -- rendering ---------------------------------------------------------------------------
    def to_markdown(self) -> str:
        """MyST/markdown with ``$...$`` math: the four parts, in order."""
        out = [f"**Constraint system — {self.title}**", ""]
        out += self._md_updates() + [""] + self._md_recursion() + [""]
        out += self._md_inequalities() + [""] + self._md_solution()
        return "\n".join(out)

    def _md_updates(self) -> list[str]:
        lines = [
            "**1. Update exponents.** The entries of the effective update $n^{-a}\\Delta w$ of a "
            f"layer are $\\Theta(n^{{-k}})$. Under {self.optimizer}, in general and with this "
            "scheme's $a$, $b$:",
            "",
            "| layer kind | $k$ in general | $k$ here | at the solution |",
            "|---|---|---|---|",
        ]
        for kind in CORE_KINDS:
            step = next(s for s in self.steps if s.kind == kind)
            lines.append(
                f"| {kind} | ${_tex(self.k_general[kind])}$ | ${_tex(step.k_symbol)} = "
                f"{_tex(step.k)}$ | ${_tex(self.solution[kind]['k'])}$ |"
            )
        if self.backward is not None:
            lines += [
                "",
                "$G = \\min(a_{L+1}+b_{L+1},\\ 2a_{L+1}+c_{L+1})$ is the width exponent of the "
                "backward signal once the readout has moved (Everett et al. print $\\max$ here; "
                "TP-IV's $r$ and every published cell need $\\min$); here "
                f"$G = {_tex(self.backward)}$.",
            ]
        return lines

    def _md_recursion(self) -> list[str]:
        lines = [
            "**2. Recursion of the feature change** $\\Delta z_l = \\Theta(n^{-r_l})$. "
            "Each term of "
            "$\\Delta z_l = \\Delta W_l z^0_{l-1} + W^0_l \\Delta z_{l-1} + \\Delta W_l "
            "\\Delta z_{l-1}$ is a width-$n$ sum that grows like $n$ to its alignment exponent "
            "($\\alpha$, $\\omega$, $u$), so it has the exponent shown ($r_{\\text{prev}}$ is "
            "the layer below's $r$); $r_l$ is the smallest:",
            "",
            "| layer | term | alignment | exponent of the term | at the solution |",
            "|---|---|---|---|---|",
        ]
        for step in self.steps:
            if not step.terms:
                lines.append(
                    f"| {step.name} | its own update (fixed fan-in: no width sum) | — | "
                    f"${_tex(step.k_symbol)}$ | ${_tex(step.r)}$ |"
                )
                continue
            for term in step.terms:
                value = "—" if term.value is None else f"${_tex(term.value)}$"
                lines.append(
                    f"| {step.name} | ${TERMS[term.product][1]}$ | "
                    f"${_alignment_tex(term)}$ | "
                    f"${_tex(term.exponent)}$ | {value} |"
                )
        lines += ["", "so that", ""]
        for step in self.steps:
            rhs = (
                _tex(step.k_symbol)
                if not step.terms
                else r"\min\left(" + ",\\ ".join(_tex(t.exponent) for t in step.terms) + r"\right)"
            )
            value = "" if step.r is None else f" = {_tex(step.r)}"
            lines.append(f"$$r_{{\\text{{{step.name}}}}} = {rhs}{value}$$")
        return lines

    def _md_inequalities(self) -> list[str]:
        lines = [
            "**3. Constraints.** Stability at initialisation fixes $a+b$ per layer:",
            "",
        ]
        lines += [
            f"- {kind}: $a+b = {_tex(s)}$, needs $a+b {_OPS[op]} {_tex(t)}$"
            for kind, s, op, t in self.init
        ]
        lines += [
            "",
            "Stability during training needs every $r_l \\ge 0$. Every $\\min$ above enters "
            "with a positive sign, so this is the conjunction of one linear inequality per term, "
            "with the layers below substituted:",
            "",
            "| inequality | from (input → output) | at the solution |",
            "|---|---|---|",
        ]
        for ineq in self.inequalities + self.bounds:
            tight = {True: "tight", False: "slack", None: "depends on the alignment"}[ineq.tight]
            lines.append(f"| ${ineq.latex()}$ | {ineq.source} | {tight} |")
        if self.implied:
            lines += [
                "",
                f"({self.implied} further forms are constant and non-negative, or implied by the "
                "listed inequalities.)",
            ]
        lines += [
            "",
            "Each layer takes its largest learning rate (smallest $c$) these allow. "
            "**Maximal update** asks in addition that every $r_l = 0$: in each layer at least "
            "one term of the $\\min$ is tight. Where it cannot hold for every layer, the "
            "solution keeps the logits nontrivial ($r_{\\text{readout}} = 0$).",
        ]
        return lines

    def _md_solution(self) -> list[str]:
        lines = [
            "**4. Solution.**",
            "",
            "| layer kind | $c$ | $k$ | $r$ | $\\epsilon$ exponent | tight constraint for $c$ |",
            "|---|---|---|---|---|---|",
        ]
        for kind, sol in self.solution.items():
            eps = "—" if sol["eps"] is None else f"${_tex(sol['eps'])}$"
            tight = "; ".join(self.tight.get(kind, ())) or "—"
            lines.append(
                f"| {kind} | ${_tex(sol['c'])}$ | ${_tex(sol['k'])}$ | ${_tex(sol['r'])}$ "
                f"| {eps} | {tight} |"
            )
        lines += ["", f"Regime: {self.regime}.", ""]
        if self.front is not None and len(self.front) > 1:
            ends = ", ".join(
                "$(" + ",\\ ".join(_tex(p[k]) for k in CORE_KINDS) + ")$" for p in self.front
            )
            lines += [
                "Pareto front: the largest learning rates trade off between layers; its "
                f"vertices $(c_{{\\text{{emb}}}}, c_{{\\text{{hid}}}}, c_{{\\text{{out}}}})$ are "
                f"{ends}. The solution is the point where every layer is maximally updated "
                "when there is one, else one with nontrivial logits.",
                "",
            ]
        lines.append("Why, for each exponent (the engine's own explanations, in full):")
        lines.append("")
        for kind, sol in self.solution.items():
            for key in ("c", "r", "eps"):
                lines.append(f"- **{kind}, {key}**: {sol['why'][key]}")
        return lines

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def to_latex(self) -> str:
        """The recursion and the inequalities as one LaTeX ``aligned`` block."""
        rows = []
        for step in self.steps:
            rhs = (
                _tex(step.k)
                if not step.terms
                else r"\min\left("
                + r",\ ".join(
                    rf"\underbrace{{{_tex(t.exponent)}}}_{{{TERMS[t.product][1]}}}"
                    for t in step.terms
                )
                + r"\right)"
            )
            rows.append(rf"r_{{\text{{{step.name}}}}} &= {rhs}")
        rows += [ineq.latex().replace(r" \ge", r" &\ge", 1) for ineq in self.inequalities]
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"

    def _repr_latex_(self) -> str:
        return "$$" + self.to_latex() + "$$"

    def __str__(self) -> str:
        return self.to_markdown()


def _rules_from(target: Any, optimizer: str, alignment: Any, kwargs: dict) -> Rules:
    if isinstance(target, Rules):
        if kwargs:
            raise ValueError(
                f"{sorted(kwargs)}: options apply when deriving; this Rules is already derived"
            )
        return target
    if isinstance(target, str):
        return rules(target, optimizer, alignment, **kwargs)
    if isinstance(target, tuple) and len(target) == 2:
        return derive(target[0], target[1], optimizer, alignment, **kwargs)
    raise TypeError(
        f"system() takes a Rules, a scheme name or an (a, b) pair of mappings; got {target!r}"
    )


def system(
    target: Any, optimizer: str = "adam", alignment: Any = "full", **kwargs: Any
) -> ConstraintSystem:
    """The constraint system a derivation solved, with its solution (Everett et al. 2024, section 2).

    ``target`` is a :class:`~abcparam.Rules`, a scheme name (``optimizer``, ``alignment`` and
    ``kwargs`` go to :func:`~abcparam.rules`) or an ``(a, b)`` pair (to :func:`~abcparam.derive`).

    >>> s = system("mup", optimizer="adam", alignment="full")
    >>> s.k_general["hidden"]
    a_l + c_l
    >>> [(t.text, str(t.exponent)) for t in s.steps[1].terms]  # hidden[1]
    [('ΔW·z⁰', 'k_hid - 1'), ('W⁰·Δz', 'r_prev'), ('ΔW·Δz', 'k_hid + r_prev - 1')]
    >>> s.steps[1].k
    c_hid
    >>> {kind: str(sol["c"]) for kind, sol in s.solution.items() if kind in ("hidden", "readout")}
    {'hidden': '1', 'readout': '1/2'}
    """
    rules_ = _rules_from(target, optimizer, alignment, kwargs)
    opt = get_optimizer(rules_.optimizer)
    align = rules_.alignment
    a, b = rules_.exponents("a"), rules_.exponents("b")
    chain = Chain.mlp(rules_.hidden_layers)
    c_sym, fixed = _unknowns(rules_)
    at_solution = {c_sym[kind]: rules_[kind].c for kind in CORE_KINDS if kind not in fixed}

    # 1. update exponents: in general, and with this scheme's a, b
    al, bl, cl, G = sympy.symbols("a_l b_l c_l G")
    k_general = {kind: _min(opt.update_forms(kind, al, bl, cl, [G])) for kind in CORE_KINDS}
    s = [sympy.expand(a[kind] + b[kind]) for kind in chain.kinds]
    backward_forms = [s[-1], 2 * a[READOUT] + c_sym[READOUT]]
    k_forms = [
        opt.update_forms(kind, a[kind], b[kind], c_sym[kind], backward_forms)
        for kind in chain.kinds
    ]
    uses_backward = any(opt.uses_backward(kind) for kind in CORE_KINDS)

    # 2. the recursion, one position at a time
    triples = triples_for(chain, align)
    steps = _steps(rules_, opt, chain, k_forms, s, triples)

    # 3. the inequalities: every form of every r, expanded through the chain (as the solver and
    # the front do), kept when not implied by another with the same c-part
    k_labelled: list[list[Form]] = [[(k, None) for k in forms] for forms in k_forms]
    expanded = [f for pos in r_forms(chain, k_labelled, s, triples) for f in pos]
    inequalities, implied = _reduce(expanded, at_solution, align.symbols)
    bounds = _bounds(opt, c_sym, fixed, at_solution, align.symbols)

    # 4. the solution, and which inequality each c sits on
    solution = {
        kind: {"c": rule.c, "k": _k_value(opt, kind, a, b, rules_), "r": rule.r}
        | {"eps": rule.eps, "why": dict(rule.why)}
        for kind, rule in rules_.layers.items()
    }
    numeric_front = align.is_numeric and rules_.lr_mode == "per-layer"
    return ConstraintSystem(
        title=rules_.title(),
        optimizer=opt.name,
        alignment=align.describe(),
        lr_mode=rules_.lr_mode,
        c_symbols=c_sym,
        k_general=k_general,
        backward=_min(backward_forms) if uses_backward else None,
        init=tuple(
            (kind, sympy.expand(a[kind] + b[kind]), op, bound)
            for kind, (op, bound) in INIT_STABILITY.items()
        ),
        steps=steps,
        inequalities=inequalities,
        bounds=bounds,
        implied=implied,
        solution=solution,
        tight=_tight(rules_, fixed, c_sym, inequalities + bounds),
        front=tuple(rules_.front) if numeric_front else None,
        regime=rules_.regime,
        conventions=tuple(rules_.conventions),
    )


def _unknowns(rules_: Rules) -> tuple[dict[str, sympy.Expr], dict[str, sympy.Expr]]:
    """(the learning-rate exponents as unknowns, the ones a convention fixes): one symbol per
    kind, or one shared symbol for TP-IV's shared LR."""
    fixed = {EMBEDDING: rules_[EMBEDDING].c} if "embedding_update" in rules_.conventions else {}
    if rules_.lr_mode == "shared":
        c_sym: dict[str, sympy.Expr] = {kind: sympy.Symbol("c") for kind in CORE_KINDS}
    else:
        c_sym = {kind: sympy.Symbol(f"c_{_SHORT[kind]}") for kind in CORE_KINDS}
    c_sym.update(fixed)
    return c_sym, fixed


def _steps(
    rules_: Rules,
    opt: UpdateModel,
    chain: Chain,
    k_forms: list[list[sympy.Expr]],
    s: list[sympy.Expr],
    triples: list[Triple | None],
) -> tuple[LayerStep, ...]:
    """Each position's recursion: r_forms on (the layer below, this layer), with the layer
    below's r and this layer's k as symbols -- the same code the solver expands over the chain."""
    a, b = rules_.exponents("a"), rules_.exponents("b")
    r_prev = sympy.Symbol("r_prev")
    r_at = list(rules_.r_chain) or [None] * len(chain.kinds)
    k_values = {kind: _k_value(opt, kind, a, b, rules_) for kind in rules_.layers}
    steps = []
    for pos, (name, kind) in enumerate(zip(chain.names, chain.kinds)):
        k_sym = sympy.Symbol(f"k_{_SHORT[kind]}")
        if pos == 0:
            steps.append(LayerStep(name, kind, _min(k_forms[pos]), k_sym, (), r_at[pos], None))
            continue
        forms = r_forms(
            Chain((chain.kinds[pos - 1], kind)),
            [[(r_prev, None)], [(k_sym, None)]],
            [s[pos - 1], s[pos]],
            [triples[pos - 1], triples[pos]],
        )[1]
        at = {k_sym: k_values[kind], r_prev: r_at[pos - 1]} if r_at[pos - 1] is not None else {}
        terms = _terms(forms, triples[pos], at)
        steps.append(LayerStep(name, kind, _min(k_forms[pos]), k_sym, terms, r_at[pos], r_prev))
    return tuple(steps)


def _bounds(
    opt: UpdateModel, c_sym: dict, fixed: dict, at_solution: dict, syms
) -> tuple[Inequality, ...]:
    """The optimizer's own bounds on c (e.g. SGD's c >= 0 where its update has a floor)."""
    bounds = []
    for kind in CORE_KINDS:
        floor = opt.lr_floor(kind)
        if floor is not None and kind not in fixed:
            expr = sympy.expand(c_sym[kind] - floor)
            tight = _is_zero(expr, at_solution, syms)
            bounds.append(Inequality(expr, f"{opt.name}'s own bound on {kind}", tight))
    return tuple(bounds)


def _tight(
    rules_: Rules, fixed: dict, c_sym: dict, inequalities: tuple[Inequality, ...]
) -> dict[str, tuple[str, ...]]:
    """Per kind, the tight inequalities its c sits on (or why none is listed)."""
    tight: dict[str, tuple[str, ...]] = {}
    for kind in rules_.layers:
        if kind in fixed:
            tight[kind] = ("a named convention fixes it (not derived)",)
        elif kind not in CORE_KINDS and rules_.lr_mode == "shared":
            tight[kind] = tight[HIDDEN]
        elif kind not in CORE_KINDS:
            tight[kind] = ("maximal update of a vector-like parameter: k = 0",)
        else:
            on = [
                f"${i.latex()}$ ({i.source})"
                for i in inequalities
                if i.tight and sympy.expand(i.expr).coeff(c_sym[kind]) != 0
            ]
            tight[kind] = tuple(on) if on else ("see the explanation below",)
    return tight


def _alignment_tex(term: Term) -> str:
    name = _GREEK[term.variable]
    value = _tex(term.alignment)
    return name if value == name else f"{name} = {value}"


def _min(forms: list[sympy.Expr]) -> sympy.Expr:
    forms = list(dict.fromkeys(sympy.expand(f) for f in forms))
    return forms[0] if len(forms) == 1 else sympy.Min(*forms, evaluate=False)


def _terms(forms, triple: Triple | None, at: dict) -> tuple[Term, ...]:
    if triple is None:  # no width sum: no alignment, no terms
        return ()
    out = []
    for expr, label in forms:
        product = label.kind if label is not None else ""
        if product not in TERMS:
            continue
        variable = TERMS[product][0]
        value = sympy.expand(expr.subs(at)) if at else None
        out.append(Term(product, variable, getattr(triple, variable), sympy.expand(expr), value))
    order = list(TERMS)
    return tuple(sorted(out, key=lambda t: order.index(t.product)))


def _is_zero(expr: sympy.Expr, at: dict, syms) -> bool | None:
    value = sympy.expand(sympy.sympify(expr).subs(at))
    if value.has(sympy.Min, sympy.Max):
        sign = sign_on_box(value, syms)
        return None if sign is None else sign == 0
    if value.free_symbols - set(syms):
        return None
    sign = sign_on_box(value, syms)
    return None if sign is None else sign == 0


def _reduce(forms: list[Form], at: dict, syms) -> tuple[tuple[Inequality, ...], int]:
    """Keep one inequality per direction of its c-part: the strongest (the others follow);
    among equally strong ones the one with the smallest coefficients."""
    best: dict[sympy.Expr, Form] = {}
    implied = 0

    def scale(expr):
        lhs, _ = _split(expr)
        coeffs = [abs(lhs.coeff(s)) for s in sorted(lhs.free_symbols, key=str)]
        return coeffs[0] if coeffs else sympy.Integer(1)

    for expr, label in forms:
        expr = sympy.expand(expr)
        lhs, rhs = _split(expr)
        if lhs == 0 and not expr.free_symbols - set(syms):
            implied += 1  # a constant: the solver has checked it is >= 0
            continue
        key = sympy.expand(lhs / scale(expr))
        if key in best:
            implied += 1
            old = best[key][0]
            diff = sympy.expand(rhs / scale(expr) - _split(old)[1] / scale(old))
            sign = sign_on_box(diff, syms)
            if sign == 1 or (sign == 0 and scale(expr) < scale(old)):
                best[key] = (expr, label)
            continue
        best[key] = (expr, label)
    kept = list(best.values())
    if not syms:
        kept, dropped = _irredundant(kept)
        implied += dropped
    out = tuple(
        Inequality(expr, _describe_path(label.path() if label else ()), _is_zero(expr, at, syms))
        for expr, label in kept
    )
    return out, implied


def _irredundant(forms: list[Form]) -> tuple[list, int]:
    """Drop every inequality the others imply (an LP each, scipy), longest first."""
    from scipy.optimize import linprog

    cs = sorted({s for expr, _ in forms for s in expr.free_symbols}, key=str)
    if not cs:
        return forms, 0
    rows = [affine_row(expr, cs) for expr, _ in forms]
    keep = list(range(len(forms)))
    by_length = sorted(keep, key=lambda i: -sum(1 for v in rows[i][0] if v != 0))
    for i in by_length:
        others = [j for j in keep if j != i]
        if not others:
            continue
        res = linprog(
            c=[float(v) for v in rows[i][0]],
            A_ub=[[-float(v) for v in rows[j][0]] for j in others],
            b_ub=[float(rows[j][1]) for j in others],
            bounds=[(None, None)] * len(cs),
            method="highs",
        )
        if res.status == 0 and res.fun + float(rows[i][1]) >= -1e-9:
            keep.remove(i)
    return [forms[i] for i in keep], len(forms) - len(keep)


def _k_value(opt: UpdateModel, kind: str, a: dict, b: dict, rules_: Rules) -> sympy.Expr:
    syms = rules_.alignment.symbols
    c = rules_.exponents("c")
    return update_exponents(a, b, c, opt, Chain((kind,)), syms)[0]
