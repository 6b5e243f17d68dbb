"""Muon (Keller Jordan 2024): momentum orthogonalised by Newton-Schulz, ``W -= lr * s(A, B) * O``.

``O`` has every nonzero singular value 1.  For a weight stored as torch's ``[A, B] = [fan-out,
fan-in]``, full rank, its entries have RMS ``sqrt(1 / max(A, B))`` (Moonshot's Lemma 1, Liu et al.
2025).  ``s`` is the named scaling convention (torch.optim.Muon's ``adjust_lr_fn``):
- "original" (Keller Jordan): ``sqrt(max(1, A/B))``;
- "match_rms_adamw" (Liu et al. 2025, "Muon is Scalable for LLM Training"): ``0.2 sqrt(max(A, B))``,
  which makes the update's entry RMS that of AdamW;
- "none": 1.

With widths ``A ~ n^d_out``, ``B ~ n^d_in`` (hidden (1, 1), embedding (1, 0), readout (0, 1)),
``s ~ n^sigma``:

* spectral view: ``||n^-a dW||_op = Theta(n^-(a + c - sigma))``.  Acting on an input z with
  Theta(1) entries that lies in the update's row space (the gradient is built from z), the output
  has RMS ``n^-(a + c - sigma) * sqrt(B / A)``.
* entry view: entries ``Theta(n^-k)``, ``k = a + c + max(d_out, d_in)/2 - sigma`` (full rank), and
  the product sums B entries with the alignment alpha: RMS ``n^(alpha - k)``.

The two agree when ``alpha = max(d_out, d_in)/2 - (d_out - d_in)/2`` -- 1/2 for a hidden matrix,
1 for the readout.  When the gradient's rank r is below the matrix's (a batch of fewer rows than
the width, or inputs that span few dimensions, as a character model's first block sees), O is a
partial isometry: still norm 1 on the inputs' span, so the product is unchanged, but its entries
are ``sqrt(r / (A B))``, smaller, and the measured alignment larger (1 once r stops growing with
n).  Given a measured alpha, the spectral view therefore predicts entries
``k = a + c - sigma + alpha d_in - (d_in - d_out)/2`` (:meth:`Muon.entry_exponent_at`).  That is the named assumption "spectral alignment" (``update_view="spectral"``):
a full-rank orthogonalised hidden update is only 1/2-aligned in the entry view, not 1.  With
``update_view="entry"`` the alignment given to the solver is used as for Adam, and the solver's
answer departs from the spectral one by exactly that 1/2.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from ..alignment import Triple
from ..exponents import EMBEDDING, HALF, HIDDEN, READOUT, fmt
from .base import UpdateModel

#: Width exponents (d_out, d_in) of [fan-out, fan-in] per matrix kind.
SHAPES: dict[str, tuple[int, int]] = {EMBEDDING: (1, 0), HIDDEN: (1, 1), READOUT: (0, 1)}
SCALINGS: tuple[str, ...] = ("original", "match_rms_adamw", "none")
UPDATE_VIEWS: tuple[str, ...] = ("spectral", "entry")


def _shape(kind: str) -> tuple[int, int]:
    if kind not in SHAPES:
        raise ValueError(
            f"Muon orthogonalises matrices; layer kind {kind!r} is not one ({', '.join(SHAPES)} "
            f"are). Give that kind another optimizer, e.g. optimizer={{'hidden': 'muon', "
            f"'default': 'adamw'}}"
        )
    return SHAPES[kind]


@dataclass(frozen=True)
class Muon(UpdateModel):
    """Muon under one scaling convention (torch.optim.Muon's ``adjust_lr_fn``; torch has no
    "none", so the torch side divides that one's group LRs by the "original" factor)."""

    scaling: str = "original"

    __hash__ = UpdateModel.__hash__

    def scale_exponent(self, kind: str) -> sympy.Expr:
        """sigma: the width exponent of the convention's factor s(A, B) (s ~ n^sigma)."""
        d_out, d_in = _shape(kind)
        if self.scaling == "original":
            return sympy.Integer(max(0, d_out - d_in)) * HALF
        if self.scaling == "match_rms_adamw":
            return sympy.Integer(max(d_out, d_in)) * HALF
        return sympy.Integer(0)

    def entry_offset(self, kind: str) -> sympy.Expr:
        """k - (a + c): entries of a full-rank O are n^-max(d_out, d_in)/2, times s ~ n^sigma."""
        d_out, d_in = _shape(kind)
        return sympy.Integer(max(d_out, d_in)) * HALF - self.scale_exponent(kind)

    def spectral_alpha(self, kind: str) -> sympy.Expr:
        """The entry-view alignment that reproduces the spectral view's product."""
        d_out, d_in = _shape(kind)
        return sympy.Integer(max(d_out, d_in)) * HALF - sympy.Integer(d_out - d_in) * HALF

    def update_forms(self, kind, a, b, c, backward):
        return [a + c + self.entry_offset(kind)]

    def entry_exponent_at(self, kind, k, alpha, view):
        """Spectral view: the operator norm is fixed, so entries follow the alignment,
        ``k + (alpha - spectral alpha) d_in`` (module docstring); the entry view keeps ``k``."""
        if view != "spectral":
            return k
        d_in = _shape(kind)[1]
        return sympy.expand(k + (alpha - self.spectral_alpha(kind)) * d_in)

    def lr_exponent(self, kind, a, b, k, backward):
        return k - a - self.entry_offset(kind)

    def effective_triple(self, kind, triple, view):
        if view not in UPDATE_VIEWS:
            raise ValueError(f"update_view = {view!r}; accepted: {', '.join(UPDATE_VIEWS)}")
        if triple is None or view == "entry":
            return triple
        alpha = self.spectral_alpha(kind)
        return Triple(alpha=alpha, omega=triple.omega, u=alpha)

    def update_formula(self, kind):
        sigma, off = self.scale_exponent(kind), self.entry_offset(kind)
        return (
            f"||n^-a dW||_op ~ n^-(a + c - {fmt(sigma)}) (orthogonalised, scaling "
            f"{self.scaling!r} ~ n^{fmt(sigma)}); full-rank entries k = a + c + {fmt(off)}"
        )

    def eps_why(self, kind, eps):
        return "no epsilon: Newton-Schulz normalises the whole matrix, not entries by sqrt(v)"


def _muon(name: str, scaling: str, citation: str) -> Muon:
    if scaling not in SCALINGS:
        raise ValueError(f"Muon scaling {scaling!r}; accepted: {', '.join(SCALINGS)}")
    return Muon(
        name=name,
        symmetry_k=1,
        has_eps=False,
        citation=citation,
        scaling=scaling,
    )


MUON = _muon("muon", "original", "Keller Jordan 2024 (blog); torch.optim.Muon adjust_lr_fn")
MUON_RMS = _muon(
    "muon-rms", "match_rms_adamw", "Liu et al. 2025 (arXiv 2502.16982), Moonshot's scaling"
)
MUON_NONE = _muon("muon-none", "none", "Muon without a shape factor")
