"""SGD: the step is the gradient, so below the readout it carries the backward signal.

Everett et al. 2024, Sec. 2: readout ``k = 2a + c``; every other layer ``k = 2a + c + G`` with
``G = min(a_out + b_out, 2 a_out + c_out)`` the exponent of the backward signal once the readout has
moved (the paper prints ``max``; TP-IV Def. 3.2's r and every published cell need ``min``).
"""

from __future__ import annotations

from ..exponents import READOUT
from .base import UpdateModel


class SGD(UpdateModel):
    def update_forms(self, kind, a, b, c, backward):
        if kind == READOUT:
            return [2 * a + c]
        return [2 * a + c + g for g in backward]

    def lr_exponent(self, kind, a, b, k, backward):
        if kind == READOUT:
            return k - 2 * a
        return k - 2 * a - backward

    def depth_step(self, c_L, grad_L, b_L):
        """The step is LR x gradient, so it carries the gradient's depth factor (the branch
        multiplier L^-alpha inside a residual block; TP-VI footnote 5: effective LR L^(alpha-gamma))."""
        return c_L + grad_L

    def uses_backward(self, kind):
        return kind != READOUT

    def eps_why(self, kind, eps):
        return "SGD has no epsilon"

    def update_formula(self, kind):
        if kind == READOUT:
            return "k = 2a + c (gradient step; the readout's gradient is Theta(n^-a))"
        return "k = 2a + c + G, G = min(a_out + b_out, 2a_out + c_out) (gradient step)"


SGD_MODEL = SGD(
    name="sgd",
    symmetry_k=2,
    has_eps=False,
    citation="TP-IV Def. 3.2; Everett et al. 2024, Sec. 2",
    # SGD's decay adds wd*p to the gradient: p <- p(1 - lr*wd) - lr*g, decoupled in effect
)
