"""Adam-atan2 (Everett et al. 2024, App. "Adam-atan2"): ``theta -= eta * a * atan2(m, b*sqrt(v))``.

atan2 is bounded and invariant to rescaling the gradient, so it has Adam's width exponents and
no epsilon at all: nothing to scale with width.
"""

from __future__ import annotations

from .adam import Adam


class AdamAtan2(Adam):
    def update_formula(self, kind):
        return "k = a + c (bounded, scale-invariant atan2 step)"

    def eps_why(self, kind, eps):
        return "no epsilon: atan2 is scale-invariant and bounded (Everett et al. 2024, App. Adam-atan2)"


ADAM_ATAN2 = AdamAtan2(
    name="adam-atan2",
    symmetry_k=1,
    has_eps=False,
    citation="Everett et al. 2024, App. Adam-atan2 (Table C4)",
)
