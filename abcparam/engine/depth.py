"""Depth exponents: a second symbol L, the number of residual blocks, kept apart from the width.

The residual stream is ``x_l = x_(l-1) + L^-alpha F_l(x_(l-1))``, l = 1..L (TP-VI Sec. 6.3;
CompleteP Sec. 3).  Every quantity gets a depth exponent e (a factor ``L**-e``) next to its width
exponent; the width exponents are derived in solve.py and are not touched here.  The depth
exponents follow from four constraints (TP-VI Claims 7.1-7.5, CompleteP Sec. 3):

1. **init stability**: the L branch outputs are independent at init, each of variance
   ``L^(-2 alpha - 2 b_L)``, so the stream's variance grows as ``L^(1 - 2 alpha - 2 b_L)``:
   Theta(1) iff ``alpha + b_L >= 1/2``.
2. **stream stability and nontriviality**: block l moves the stream by ``L^-alpha`` times its own
   feature change ``L^-k_L`` (k_L: the depth exponent of the block's weight step); the L
   contributions add with the *depth alignment* exponent beta (``L^beta``: 1 when they add
   coherently, TP-VI's premise; 1/2 when they add like independent terms), so the stream moves by
   ``L^(beta - alpha - k_L)``.  Theta(1) fixes ``k_L = beta - alpha``.
3. **block stability**: a block's own features may not blow up with depth: ``k_L >= 0``, i.e.
   ``alpha <= beta``.  ``k_L = 0`` ("complete" feature learning: every block's features move by
   Theta(1), CompleteP) needs ``alpha = beta``; the smallest stable alpha (1/2) is TP-VI's
   "maximal feature diversity".
4. **outside the blocks** (embedding, readout, a final norm) a parameter acts once: ``k_L = 0``.

The LR's depth exponent c_L comes from each optimizer's ``depth_step`` (SGD's step carries the
gradient's branch multiplier, Adam's does not, Adafactor's is relative); epsilon follows the raw
gradient's depth exponent (``alpha`` inside a block, 0 outside); coupled weight decay keeps the
per-step decay ``lr * lambda`` depth-independent, so its exponent is ``-c_L``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sympy

from .exponents import EMBEDDING, HALF, HIDDEN, LAYER_KINDS, READOUT, exact, fmt

ZERO = sympy.Integer(0)
ONE = sympy.Integer(1)
#: Layer kinds whose parameters live inside the residual blocks (pre-LN gains and biases of the
#: blocks included); a norm or bias outside every block (a final LN) takes ``Rules.outside_depth``.
IN_BRANCH_KINDS: tuple[str, ...] = (HIDDEN, "bias", "norm")
OUTSIDE_KINDS: tuple[str, ...] = (EMBEDDING, READOUT)
#: The depth exponents every depth-aware LayerRule carries, besides "r".
DEPTH_FIELDS: tuple[str, ...] = ("a", "b", "c", "eps", "wd", "r")


@dataclass(frozen=True)
class DepthAlignment:
    """How the L blocks' contributions to the stream's change add: ``L^beta`` in size.

    beta = 1: coherently (TP-VI, CompleteP); beta = 1/2: like independent terms; a sympy Symbol
    leaves it open (assumed in [1/2, 1]).
    """

    beta: sympy.Expr
    name: str

    def describe(self) -> str:
        return self.name if self.name in DEPTH_ALIGNMENTS else f"beta = {fmt(self.beta)}"


DEPTH_ALIGNMENTS: dict[str, DepthAlignment] = {
    "coherent": DepthAlignment(ONE, "coherent"),
    "independent": DepthAlignment(HALF, "independent"),
}


def make_depth_alignment(spec: Any = "coherent") -> DepthAlignment:
    """``"coherent"`` (beta = 1), ``"independent"`` (beta = 1/2), a number in [1/2, 1] or a Symbol."""
    if isinstance(spec, DepthAlignment):
        return spec
    if isinstance(spec, str) and spec.strip().lower() in DEPTH_ALIGNMENTS:
        return DEPTH_ALIGNMENTS[spec.strip().lower()]
    try:
        beta = exact(spec, "depth alignment")
    except (TypeError, ValueError):
        raise ValueError(
            f"unknown depth alignment {spec!r}; accepted: 'coherent', 'independent', a number "
            f"in [1/2, 1] or a sympy Symbol"
        ) from None
    if isinstance(beta, sympy.Symbol):
        return DepthAlignment(beta, f"beta = {beta}")
    if beta.free_symbols or not (HALF <= beta <= ONE):
        raise ValueError(
            f"depth alignment {spec!r} lies outside [1/2, 1]; accepted: 'coherent', "
            f"'independent', a number in [1/2, 1] or a sympy Symbol"
        )
    for named in DEPTH_ALIGNMENTS.values():
        if named.beta == beta:
            return named
    return DepthAlignment(beta, f"beta = {fmt(beta)}")


def branch_alpha(value: Any) -> sympy.Expr:
    """The branch exponent alpha (multiplier L^-alpha): an exact number or a sympy expression."""
    return exact(value, "depth_alpha")


@dataclass(frozen=True)
class Constraint:
    """One depth constraint: its name, the condition on alpha (a sympy relation, or True/False
    once alpha and beta are numbers) and where it comes from."""

    name: str
    condition: Any
    why: str

    @property
    def holds(self) -> bool | None:
        """True / False when decided, None when it depends on a symbol."""
        if self.condition in (sympy.true, True):
            return True
        if self.condition in (sympy.false, False):
            return False
        return None


@dataclass(frozen=True)
class DepthSolution:
    """Per-kind depth exponents (``DEPTH_FIELDS``) with a reason each, and the constraints."""

    alpha: sympy.Expr
    alignment: DepthAlignment
    exponents: Mapping[str, Mapping[str, sympy.Expr]]
    why: Mapping[str, Mapping[str, str]]
    constraints: tuple[Constraint, ...]
    outside: Mapping[str, sympy.Expr] = field(default_factory=dict)

    @property
    def regime(self) -> str:
        failed = [c for c in self.constraints if c.holds is False]
        if failed:
            return "unstable in depth: " + "; ".join(f"{c.name} fails ({c.why})" for c in failed)
        open_ = [c for c in self.constraints if c.holds is None]
        if open_:
            return "in depth, holds iff " + " and ".join(f"{c.condition} ({c.name})" for c in open_)
        block = self.exponents[HIDDEN]["r"]
        kind = (
            "every block's features move by Theta(1) (complete feature learning)"
            if block == 0
            else f"each block's features move by L^-{fmt(block)} (lazy blocks, "
            f"the stream still moves by Theta(1))"
        )
        return f"stable and nontrivial in depth; {kind}"


def growth(
    alpha: Any,
    step_L: Any,
    alignment: Any = "coherent",
    b_L: Any = 0,
) -> dict[str, sympy.Expr]:
    """Growth exponents in L (size ~ L^g) of the residual stream for any alpha and block-step depth
    exponent ``step_L`` (a given rule, derived or not): "stream_init" (RMS at init: the embedding's
    Theta(1) plus L branches of size L^(-alpha - b_L)), "block_change" (one block's output change)
    and "stream_change" (the embedding's Theta(1) change plus the L blocks' ``L^(beta - alpha -
    step_L)``).  The asymptotic exponents a depth coordinate check should approach."""
    a, k, b = branch_alpha(alpha), exact(step_L, "step_L"), exact(b_L, "b_L")
    beta = make_depth_alignment(alignment).beta
    return {
        "stream_init": sympy.Max(ZERO, HALF - a - b),
        "block_change": -k,
        "stream_change": sympy.Max(ZERO, beta - a - k),
    }


def derive_depth(alpha: Any, optimizer, alignment: Any = "coherent") -> DepthSolution:
    """Depth exponents of every layer kind for branch multiplier ``L^-alpha`` (module docstring).

    ``optimizer`` is an UpdateModel (optimizers/): its ``depth_step`` turns the step's depth
    exponent into the LR's; ``has_eps`` says whether an epsilon exponent applies.
    """
    return _derive(branch_alpha(alpha), optimizer, make_depth_alignment(alignment))


@functools.lru_cache(maxsize=256)
def _derive(a: sympy.Expr, optimizer, align: DepthAlignment) -> DepthSolution:
    beta = align.beta
    c_sym = sympy.Symbol("c_L")
    b_L = ZERO
    exps: dict[str, dict[str, sympy.Expr]] = {}
    whys: dict[str, dict[str, str]] = {}
    for kind in LAYER_KINDS:
        inside = kind in IN_BRANCH_KINDS
        grad = a if inside else ZERO
        k = sympy.expand(beta - a) if inside else ZERO
        step = optimizer.depth_step(c_sym, grad, b_L)
        slope = sympy.diff(step, c_sym)  # the step is affine in the LR's exponent
        if slope == 0:
            raise ValueError(f"{optimizer.name}: the step's depth exponent ignores the LR's")
        c_L = sympy.expand((k - step.subs(c_sym, 0)) / slope)
        eps = grad if optimizer.has_eps else None
        wd = sympy.expand(-c_L)
        exps[kind] = {"a": ZERO, "b": b_L, "c": c_L, "eps": eps, "wd": wd, "r": k}
        step_text = fmt(sympy.expand(step))
        if inside:
            c_why = (
                f"c_L = {fmt(c_L)}: stream stability and nontriviality — the block's step "
                f"L^-({step_text}) ({optimizer.name}) moves its features by L^-k_L, the stream "
                f"by L^-alpha x that, and L blocks add as L^beta ({align.describe()}): "
                f"beta - alpha - k_L = 0 gives k_L = {fmt(k)}"
            )
            r_why = (
                f"r_L = {fmt(k)}: each block's own feature change L^-(beta - alpha); block "
                f"stability needs r_L >= 0 (alpha <= beta), complete feature learning r_L = 0"
            )
            eps_why = (
                f"eps_L = {fmt(grad)}: the raw gradient inside a block carries the branch "
                f"multiplier L^-alpha (the stream's backward signal is Theta(1) in depth); "
                f"eps must shrink with it or swamp sqrt(v)"
            )
        else:
            c_why = (
                "c_L = 0: outside the residual blocks the parameter acts once; its gradient "
                "(the stream's backward signal) and its effect are Theta(1) in depth"
            )
            r_why = "r_L = 0: acts once on (or reads) the Theta(1) stream"
            eps_why = "eps_L = 0: the gradient outside the blocks is Theta(1) in depth"
        whys[kind] = {
            "a": "a_L = 0: the depth multiplier L^-alpha sits on the branch output "
            "(Rules.branch_multiplier), not on the weight"
            if inside
            else "a_L = 0: no depth multiplier outside the residual blocks",
            "b": "b_L = 0: no depth factor in any init (TP-VI Def. 6.2; CompleteP); the branch "
            "multiplier keeps the stream's variance Theta(1) (init stability, alpha >= 1/2)",
            "c": c_why,
            "eps": eps_why if optimizer.has_eps else f"{optimizer.name} has no epsilon",
            "wd": f"wd_L = {fmt(wd)}: coupled weight decay (torch AdamW: p <- p(1 - lr lambda)) "
            f"keeps the per-step decay lr*lambda depth-independent, lambda ~ L^{fmt(c_L)}; "
            f"independent (decoupled) decay needs wd_L = 0",
            "r": r_why,
        }
    constraints = (
        Constraint(
            "init stability",
            sympy.Ge(a + b_L, HALF),
            "L independent branches of variance L^(-2 alpha) add to L^(1 - 2 alpha): alpha >= 1/2 "
            "(TP-VI Claim 7.1)",
        ),
        Constraint(
            "block stability",
            sympy.Le(a, beta),
            f"each block's features move by L^-(beta - alpha) with beta = {fmt(beta)} "
            f"({align.describe()}): alpha <= beta (TP-VI Claims 7.2-7.3 with coherent sums)",
        ),
    )
    return DepthSolution(a, align, exps, whys, constraints, dict(exps[EMBEDDING]))
