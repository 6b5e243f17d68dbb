"""Lion (Chen et al. 2023) and sign descent: every update entry is +-lr, whatever the gradient.

So entries of ``n^-a dw`` are ``Theta(n^-(a+c))``: Adam's exponents (Everett et al. 2024, Sec. 2)
with no epsilon at all (sign needs none); the decay is decoupled, ``p *= 1 - lr*wd``.  Sign
descent is Lion with both betas 0 (the sign of the current gradient).
"""

from __future__ import annotations

from .adam import Adam


class SignUpdate(Adam):
    def update_formula(self, kind):
        return "k = a + c (entries +-lr: a sign update)"

    def eps_why(self, kind, eps):
        return "no epsilon: a sign update divides by nothing"


LION = SignUpdate(
    name="lion",
    symmetry_k=1,
    has_eps=False,
    citation="Chen et al. 2023 (arXiv 2302.06675); exponents as Adam's, Everett et al. 2024",
)

SIGN = SignUpdate(
    name="sign",
    symmetry_k=1,
    has_eps=False,
    citation="sign descent (Bernstein et al. 2018); exponents as Adam's, Everett et al. 2024",
)
