"""What defines each named parametrization: its (a, b) per layer kind and its conventions.

Nothing here is a learning rate or an epsilon: those are derived (solve.py).  The (a, b) pairs are
Everett et al. 2024's one-width forms (their Sec. 2 / Table 1 rows; TP-IV Table 1 for SGD); u-muP's
are from Blake et al. 2024 (unit init b = 0, multipliers 1, 1/sqrt(fan-in), 1/fan-in); μnit
Scaling's from Narayan et al. 2025 (arXiv 2502.05967, Table 2: unit init, multipliers 1,
1/sqrt(fan-in), 1/fan-in, with res-post-LayerNorm blocks).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import sympy

from .exponents import EMBEDDING, HIDDEN, READOUT, VECTOR_KINDS, exact, resolve


@dataclass(frozen=True)
class Scheme:
    """A named parametrization: (a, b) per core layer kind plus named conventions.

    architecture: named choices of the network that carry no width exponent (e.g. μnit Scaling's
    res-post-LayerNorm blocks); the torch side reads them, the derivation does not.
    conventions: ``embedding_update`` fixes the embedding's update exponent k (u-muP's empirical
    rule) instead of deriving it; ``attention_logit`` fixes the attention-logit exponent x in
    ``q.k * d_head^-x`` instead of deriving it from the alignment.
    depth_alpha: the scheme's residual-branch exponent (multiplier L^-alpha) and why it was chosen;
    depth_by_default: whether ``rules`` applies it unasked (Depth-μP, CompleteP) or only with
    ``depth=True`` (u-μP's residual rule).  Depth LR/eps/wd exponents are derived (depth.py).
    """

    name: str
    title: str
    a: Mapping[str, sympy.Expr]
    b: Mapping[str, sympy.Expr]
    citation: str
    conventions: Mapping[str, tuple[sympy.Expr, str]] = field(default_factory=dict)
    architecture: tuple[str, ...] = ()
    depth_alpha: tuple[sympy.Expr, str] | None = None
    depth_by_default: bool = False


def _pairs(embedding: tuple[str, str], hidden: tuple[str, str], readout: tuple[str, str]):
    """(a, b) per kind from string pairs; vector-like kinds (bias, norm) follow the embedding."""
    given = {EMBEDDING: embedding, HIDDEN: hidden, READOUT: readout}
    given.update({kind: embedding for kind in VECTOR_KINDS})
    a = {kind: exact(pair[0], f"{kind} a") for kind, pair in given.items()}
    b = {kind: exact(pair[1], f"{kind} b") for kind, pair in given.items()}
    return a, b


def _scheme(
    name,
    title,
    citation,
    embedding,
    hidden,
    readout,
    conventions=None,
    architecture=(),
    depth=None,
    default=False,
) -> Scheme:
    a, b = _pairs(embedding, hidden, readout)
    conv = {key: (exact(value, key), why) for key, (value, why) in (conventions or {}).items()}
    depth_alpha = None if depth is None else (exact(depth[0], "depth_alpha"), depth[1])
    return Scheme(name, title, a, b, citation, conv, tuple(architecture), depth_alpha, default)


_MUP_PAIRS = (("-1/2", "1/2"), ("0", "1/2"), ("1/2", "1/2"))


SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in (
        _scheme(
            "sp",
            "Standard parametrization",
            "TP-IV Table 1; Everett et al. 2024 Sec. 2",
            ("0", "0"),
            ("0", "1/2"),
            ("0", "1/2"),
            {
                "attention_logit": (
                    "1/2",
                    "SP's attention logits q.k/sqrt(d_head) "
                    "(Vaswani et al. 2017), a convention, not derived",
                )
            },
        ),
        _scheme(
            "ntp",
            "Neural tangent parametrization",
            "TP-IV Table 1; Everett et al. 2024 Sec. 2",
            ("0", "0"),
            ("1/2", "0"),
            ("1/2", "0"),
        ),
        _scheme(
            "mfp",
            "Mean-field parametrization",
            "TP-IV Table 1; Everett et al. 2024 Sec. 2",
            ("0", "0"),
            ("1/2", "0"),
            ("1", "0"),
        ),
        _scheme(
            "mup",
            "Maximal update parametrization (μP)",
            "TP-IV Table 1 / TP-V Table 9; Everett et al. 2024 Sec. 2",
            ("-1/2", "1/2"),
            ("0", "1/2"),
            ("1/2", "1/2"),
        ),
        _scheme(
            "u-mup",
            "Unit-scaled μP (u-μP)",
            "Blake et al. 2024 (arXiv 2407.17465), Sec. 4",
            ("0", "0"),
            ("1/2", "0"),
            ("1", "0"),
            {
                "embedding_update": (
                    "1/2",
                    "u-μP's embedding learning rate eta/sqrt(fan-out) "
                    "(Blake et al. 2024): an empirical rule the paper "
                    "does not derive; it leaves r_embedding = 1/2 "
                    "instead of maximal update's 0",
                )
            },
            depth=(
                "1/2",
                "u-μP's residual rule (Blake et al. 2024, App. G; unit_scaling's "
                "transformer_residual_scaling_rule): branch weight tau ~ 1/sqrt(L/2 + ...), "
                "a variance-preserving mix, so alpha = 1/2",
            ),
        ),
        _scheme(
            "depth-mup",
            "Depth-μP (μP in width, 1/sqrt(L) branches)",
            "Yang, Yu, Zhu & Hayou 2023 (TP-VI, arXiv 2310.02244), Table 1",
            *_MUP_PAIRS,
            depth=(
                "1/2",
                "TP-VI: alpha = 1/2, the smallest stable alpha, for maximal feature diversity "
                "(Claim 7.5)",
            ),
            default=True,
        ),
        _scheme(
            "completep",
            "CompleteP (μP in width, 1/L branches)",
            "Dey et al. 2025 (arXiv 2505.01618), Table 1",
            *_MUP_PAIRS,
            depth=(
                "1",
                "CompleteP: alpha = 1 so that every block's features move by Theta(1) "
                "(complete feature learning, r_L = 0) under coherent depth alignment",
            ),
            default=True,
        ),
        _scheme(
            "munit",
            "μnit Scaling (μS)",
            "Narayan et al. 2025 (arXiv 2502.05967), Table 2",
            ("0", "0"),
            ("1/2", "0"),
            ("1", "0"),
            architecture=(
                "res-post-ln: each residual branch ends in a LayerNorm, "
                "x + norm(f(x)) (Narayan et al. 2025, Sec. 3)",
            ),
        ),
    )
}

SCHEME_ALIASES: dict[str, str] = {
    "sp": "sp",
    "standard": "sp",
    "ntp": "ntp",
    "ntk": "ntp",
    "mfp": "mfp",
    "mean-field": "mfp",
    "meanfield": "mfp",
    "mean_field": "mfp",
    "mup": "mup",
    "μp": "mup",
    "mu-p": "mup",
    "mu_p": "mup",
    "maximal-update": "mup",
    "u-mup": "u-mup",
    "umup": "u-mup",
    "u-μp": "u-mup",
    "uμp": "u-mup",
    "u_mup": "u-mup",
    "munit": "munit",
    "μnit": "munit",
    "mu-nit": "munit",
    "mus": "munit",
    "μs": "munit",
    "depth-mup": "depth-mup",
    "depth_mup": "depth-mup",
    "depthmup": "depth-mup",
    "depth-μp": "depth-mup",
    "completep": "completep",
    "complete-p": "completep",
    "complete_p": "completep",
}


def get_scheme(name: str | Scheme) -> Scheme:
    """The scheme called ``name`` (aliases: ntk, mean-field, μp, mu-p, umup, u-μp, ...)."""
    if isinstance(name, Scheme):
        return name
    return resolve(name, SCHEMES, SCHEME_ALIASES, "scheme")
