"""The public face of the engine: ``rules`` (a named scheme, cached) and ``derive`` return a
:class:`Rules` table.

Flow: a scheme (schemes.py) names (a, b) and conventions -> ``derive`` (derive.py) checks
stability at init and solves for c (solve.py) -> the epsilon exponent and attention-logit scale
follow -> :class:`Rules` (rules_types.py) renders itself (render.py: markdown, LaTeX, JSON) and
explains every exponent (``rule.why``); symmetry.py moves a table along the abc-symmetry.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import sympy

from .. import validate
from .alignment import Alignment, make_alignment
from .depth import DepthAlignment, make_depth_alignment
from .derive import LR_MODES, REQUIREMENTS, check_hidden_layers, derive, lr_mode, with_depth
from .exponents import exact
from .optimizers import canonical_name
from .rules_table import Rules
from .rules_types import FrozenMap, LayerRule, Number, RulesData
from .schemes import Scheme, get_scheme
from .symmetry import COORDINATES, equivalent, reparametrize

__all__ = [
    "COORDINATES",
    "LR_EXPONENTS",
    "LR_MODES",
    "REQUIREMENTS",
    "FrozenMap",
    "LayerRule",
    "Number",
    "Rules",
    "RulesData",
    "derive",
    "equivalent",
    "reparametrize",
    "rules",
    "rules_for_exponents",
    "with_depth",
]

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


def _depth_choice(
    scheme: Scheme, depth: bool | None, depth_alpha: Number | None
) -> tuple[sympy.Expr | None, str]:
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
    sch = get_scheme(scheme)
    opt = canonical_name(optimizer)
    validate.boolean(conventions, "conventions")
    if depth is not None:
        validate.boolean(depth, "depth")
    hidden_layers = check_hidden_layers(hidden_layers)
    alpha, why = _depth_choice(sch, depth, depth_alpha)
    depth_align = make_depth_alignment(depth_alignment)
    width_key = (
        sch.name,
        opt,
        make_alignment(alignment),
        hidden_layers,
        lr_mode(lr),
        require,
        conventions,
        weight_decay,
        update_view,
    )
    if alpha is None:
        return _rules_cached(*width_key)
    return _depth_cached(width_key, alpha, depth_align, why)
