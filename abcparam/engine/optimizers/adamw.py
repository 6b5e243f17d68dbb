"""AdamW (Loshchilov & Hutter 2019): Adam's update with decoupled weight decay ``p *= 1 - lr*wd``.

Its width exponents are Adam's (the decay is not part of the update whose size the constraints
bound); what it adds is the weight-decay exponent, derived under a named convention (base.py).
"""

from __future__ import annotations

from .adam import Adam

ADAMW = Adam(
    name="adamw",
    symmetry_k=1,
    has_eps=True,
    citation="Loshchilov & Hutter 2019; width exponents: Everett et al. 2024, Sec. 2",
    decay="decoupled",
)
