"""Derivation: a scheme's (a, b) and conventions -> c, epsilon, weight-decay and depth exponents,
each with its reason, as a :class:`~abcparam.engine.rules_types.Rules` (TP-IV Sec. 3; Everett et
al. 2024, Sec. 2).

Stability at init and the largest stable c come from solve.py; this module adds the attention
scale, the per-kind optimizer's epsilon and weight decay, the reasons, and the depth exponents
(depth.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import sympy

from .. import validate
from . import render
from .alignment import Alignment, make_alignment
from .depth import derive_depth, make_depth_alignment
from .exponents import (
    CORE_KINDS,
    EMBEDDING,
    HALF,
    HIDDEN,
    LAYER_KINDS,
    READOUT,
    VECTOR_KINDS,
    canonical_kind,
    exact,
    fmt,
)
from .minmax import sign_on_box
from .optimizers import (
    UPDATE_VIEWS,
    WEIGHT_DECAY_CONVENTIONS,
    PerKind,
    UpdateModel,
    canonical_name,
    get_optimizer,
)
from .optimizers.muon import Muon
from .recursion import Chain
from .rules_table import Rules
from .rules_types import LayerRule, Number
from .solve import Solution, derive_exponents, derive_shared_lr

LR_MODES = ("per-layer", "shared")
REQUIREMENTS = ("nontrivial", "feature-learning")


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
    return HALF, (
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
    hidden_layers = check_hidden_layers(hidden_layers)
    _check_conventions(weight_decay, update_view)
    a_full, b_full = _complete(a, "a"), _complete(b, "b")
    conv = {key: (exact(v, key), why) for key, (v, why) in (conventions or {}).items()}
    lr = lr_mode(lr)
    chain = Chain.mlp(hidden_layers)
    if lr == "shared":
        sol = derive_shared_lr(a_full, b_full, opt, align, chain, update_view)
    else:
        sol = derive_exponents(a_full, b_full, opt, align, chain, conv, update_view)
    attention, attention_why = _attention(sol, align, conv)
    given = f"given ({scheme or 'user'})"
    layers = {
        kind: _layer_rule(kind, a_full, b_full, sol, opt, align, given, weight_decay, update_view)
        for kind in LAYER_KINDS
    }
    result = Rules(
        scheme=scheme,
        optimizer=opt.name,
        alignment=align,
        layers=layers,
        attention_logit_exponent=attention,
        attention_why=attention_why,
        regime=render.regime(layers, align.symbols),
        lr_mode=lr,
        hidden_layers=hidden_layers,
        r_chain=tuple(sol.r_chain),
        conventions=tuple(conv),
        notes=_plan_notes(opt, optimizer),
        weight_decay=weight_decay,
        update_view=update_view,
    )
    _check_requirement(result, require, align.symbols)
    if depth_alpha is not None:
        return with_depth(result, depth_alpha, depth_alignment, depth_why)
    make_depth_alignment(depth_alignment)  # still reject a bad value
    return result


def _plan_notes(opt: UpdateModel, optimizer: Any) -> tuple[str, ...]:
    """A note when a bare name (e.g. "muon") was expanded into a per-kind plan."""
    if not isinstance(opt, PerKind) or "=" in canonical_name(optimizer):
        return ()
    return (
        f"{optimizer!r} orthogonalises matrices and is meant for hidden layers: the other "
        f"kinds use {opt.optimizer_for(EMBEDDING).name} (plan {opt.name})",
    )


def _check_conventions(weight_decay: str, update_view: str) -> None:
    """Reject an unknown weight-decay convention or update view, naming the accepted ones."""
    if weight_decay not in WEIGHT_DECAY_CONVENTIONS:
        raise ValueError(
            f"weight_decay = {weight_decay!r}; accepted: {', '.join(WEIGHT_DECAY_CONVENTIONS)}"
        )
    if update_view not in UPDATE_VIEWS:
        raise ValueError(f"update_view = {update_view!r}; accepted: {', '.join(UPDATE_VIEWS)}")


def _layer_rule(
    kind: str,
    a: Mapping[str, sympy.Expr],
    b: Mapping[str, sympy.Expr],
    sol: Solution,
    opt: UpdateModel,
    align: Alignment,
    given: str,
    weight_decay: str,
    update_view: str,
) -> LayerRule:
    """One kind's rule from the solution: its epsilon and weight decay, and every reason."""
    eps = opt.eps_exponent(kind, a, b)
    wd, wd_why = opt.wd_exponent(kind, sol.c[kind], weight_decay)
    wd_why += _decay_note(kind, a[kind], b[kind], sol.r[kind], wd, align.symbols)
    why = {
        "a": f"a = {fmt(a[kind])}: {given}",
        "b": f"b = {fmt(b[kind])}: {given}",
        "c": sol.why_c[kind] + _view_note(opt, kind, align, update_view),
        "eps": opt.eps_why(kind, eps),
        "wd": wd_why,
        "r": sol.why_r[kind],
    }
    return LayerRule(
        kind,
        a[kind],
        b[kind],
        sol.c[kind],
        eps,
        sol.r[kind],
        why,
        wd=wd,
        optimizer=opt.optimizer_for(kind).name,
    )


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


def check_hidden_layers(count: Any) -> int:
    """``count`` checked: a positive int up to MAX_HIDDEN_LAYERS (the exponents settle after a
    few layers while the derivation's time grows with the count)."""
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


def lr_mode(lr: str) -> str:
    """``lr`` checked against LR_MODES (one meaning per name: no aliases)."""
    if lr not in LR_MODES:
        raise ValueError(f"lr = {lr!r}; accepted: {', '.join(LR_MODES)}")
    return lr
