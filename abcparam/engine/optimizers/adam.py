"""Adam: a normalised step, so entries of ``n^-a dw`` are ``Theta(n^-(a+c))`` whatever the gradient.

Everett et al. 2024, Sec. 2 ("Adam"): the update is sign-like (m/sqrt(v) = Theta(1) per entry).
"""

from __future__ import annotations

from .base import UpdateModel


class Adam(UpdateModel):
    def update_forms(self, kind, a, b, c, backward):
        return [a + c]

    def lr_exponent(self, kind, a, b, k, backward):
        return k - a

    def update_formula(self, kind):
        return "k = a + c (normalised step)"

    def depth_step(self, c_L, grad_L, b_L):
        """m/sqrt(v) is Theta(1) per entry whatever the gradient's depth factor: the step is the
        LR's (TP-VI footnote 5: effective LR L^-gamma for Adam)."""
        return c_L


ADAM = Adam(
    name="adam",
    symmetry_k=1,
    has_eps=True,
    citation="Kingma & Ba 2015; width exponents: Everett et al. 2024, Sec. 2",
    decay="l2",
)
