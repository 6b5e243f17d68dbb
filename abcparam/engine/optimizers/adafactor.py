"""Adafactor with parameter scaling: the step is relative to the parameter's RMS ``n^-b``.

Everett et al. 2024, Sec. 2: entries of ``n^-a dw`` are ``Theta(n^-(a+b+c))``, and their constraint
table adds ``c >= 0``: the relative step may not grow with width.
"""

from __future__ import annotations

import sympy

from .base import UpdateModel


class Adafactor(UpdateModel):
    def update_forms(self, kind, a, b, c, backward):
        return [a + b + c]

    def lr_exponent(self, kind, a, b, k, backward):
        return k - a - b

    def lr_floor(self, kind):
        return sympy.Integer(0)

    def update_formula(self, kind):
        return "k = a + b + c (step relative to the parameter's RMS n^-b)"

    def depth_step(self, c_L, grad_L, b_L):
        """A relative step: LR x the parameter's RMS (L^-b_L), whatever the gradient."""
        return c_L + b_L


ADAFACTOR = Adafactor(
    name="adafactor",
    symmetry_k=0,
    has_eps=True,
    citation="Shazeer & Stern 2018; width exponents: Everett et al. 2024, Sec. 2",
)
