"""What an optimizer contributes to the derivation: the width exponent of one weight update.

Everett et al. 2024 (Sec. 2, constraint table) reduce each optimizer to the size of the entries
of the effective update ``n^-a dw``: ``Theta(n^-k)``.  Adding an optimizer means writing this
module's three methods (see ``adam.py`` for the shortest example).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy


@dataclass(frozen=True)
class UpdateModel:
    """Width exponents of one optimizer's update.

    name: the canonical name; symmetry_k: c shifts by k*theta under (a, b) -> (a+theta, b-theta)
    (THEORY.md; TP-V Lemma J.1); has_eps: whether an epsilon exponent applies.
    """

    name: str
    symmetry_k: int
    has_eps: bool
    citation: str

    def update_forms(self, kind: str, a, b, c, backward: list[sympy.Expr]) -> list[sympy.Expr]:
        """Exponent k of the update entries as a min over affine forms (one form unless the
        update depends on the backward signal, whose exponent is ``min(backward)``)."""
        raise NotImplementedError

    def lr_exponent(self, kind: str, a, b, k, backward: sympy.Expr) -> sympy.Expr:
        """The c that gives update exponent ``k`` (the inverse of :meth:`update_forms`)."""
        raise NotImplementedError

    def lr_floor(self, kind: str) -> sympy.Expr | None:
        """A lower bound on c that the optimizer itself imposes, or None."""
        return None

    def update_formula(self, kind: str) -> str:
        """Human-readable update exponent, for explanations."""
        raise NotImplementedError

    def depth_step(self, c_L: sympy.Expr, grad_L: sympy.Expr, b_L: sympy.Expr) -> sympy.Expr:
        """Depth exponent of the weight step's entries (step ~ L^-k_L) for an LR ~ L^-c_L, a
        gradient ~ L^-grad_L and weights ~ L^-b_L (engine/depth.py).  Default: a normalised step
        whose size is the LR whatever the gradient (sign-like updates); SGD and Adafactor differ."""
        return c_L

    def uses_backward(self, kind: str) -> bool:
        """Whether this layer's update exponent depends on the backward signal."""
        return False
