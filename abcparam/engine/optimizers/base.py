"""What an optimizer contributes to the derivation, and everything else it owns.

Everett et al. 2024 (Sec. 2, constraint table) reduce each optimizer to the size of the entries
of the effective update ``n^-a dw``: ``Theta(n^-k)``.  Each optimizer module also owns its epsilon
exponent and its weight-decay rule: the math only.  The torch class that realises it, its fixed
arguments and default epsilon are registered once on the torch side (``abcparam.torch.optim``),
so adding an optimizer means one module here, one registry entry there, and their tests (see
``adam.py`` for the shortest example).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sympy

from ..alignment import Triple
from ..exponents import READOUT, fmt

#: Weight-decay conventions: what is held fixed as the width grows.
#: "coupled": torch's ``p <- p (1 - lr * lambda)``; the per-step decay lr*lambda is kept
#: width-independent (microsoft/mup's MuAdam, CompleteP Table 1, Wang & Aitchison 2024).
#: "independent": ``p <- p (1 - lambda)`` with lambda width-independent (Wortsman et al. 2023).
WEIGHT_DECAY_CONVENTIONS: tuple[str, ...] = ("coupled", "independent")


def gradient_exponent(kind: str, a: Mapping, b: Mapping) -> sympy.Expr:
    """Exponent g of the raw gradient RMS of w at init: ``a_l + (a_out + b_out)`` below the
    readout, ``a_out`` at the readout (Everett et al. 2024, Sec. "Adam epsilon")."""
    if kind == READOUT:
        return a[READOUT]
    return sympy.expand(a[kind] + a[READOUT] + b[READOUT])


@dataclass(frozen=True)
class UpdateModel:
    """Width exponents of one optimizer's update (the math; torch's side: abcparam.torch.optim).

    name: the canonical name; symmetry_k: c shifts by k*theta under (a, b) -> (a+theta, b-theta)
    (TP-V Lemma J.1); has_eps: whether an epsilon exponent applies; decay: how the optimizer
    applies weight decay ("decoupled": ``p *= 1 - lr*wd``, "l2": ``grad += wd*p`` before
    normalisation, None: no weight decay), which decides whether a width rule follows.
    """

    name: str
    symmetry_k: int
    has_eps: bool
    citation: str
    decay: str | None = "decoupled"

    def __hash__(self) -> int:  # one model per name: hash by the name (and the model's class)
        return hash((type(self).__name__, self.name))

    # -- the update -------------------------------------------------------------------------------
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

    def symmetry(self, kind: str) -> int:
        """The abc-symmetry's k for this layer kind (c -> c - k*theta)."""
        return self.symmetry_k

    def effective_triple(self, kind: str, triple: Triple | None, view: str) -> Triple | None:
        """The alignment this optimizer's update meets at ``kind`` (unchanged unless the update's
        spectrum fixes it: see ``muon.py``)."""
        return triple

    def optimizer_for(self, kind: str) -> UpdateModel:
        """The update model used at ``kind`` (itself, unless per-kind)."""
        return self

    def entry_exponent_at(
        self, kind: str, k: sympy.Expr, alpha: sympy.Expr, view: str
    ) -> sympy.Expr:
        """The update's entry exponent when its alignment is measured to be ``alpha``: ``k``
        itself for an optimizer whose entry size is set entry by entry (SGD, Adam, Lion); see
        ``muon.py`` for one whose operator norm is set instead."""
        return k

    # -- epsilon and weight decay --------------------------------------------------------------------
    def eps_exponent(self, kind: str, a: Mapping, b: Mapping) -> sympy.Expr | None:
        """eps ~ n^-eps keeps eps/sqrt(v) width-independent: the raw gradient's exponent."""
        return gradient_exponent(kind, a, b) if self.has_eps else None

    def eps_why(self, kind: str, eps: sympy.Expr | None) -> str:
        if eps is None:
            return f"no epsilon: {self.name} divides by nothing that could be swamped"
        return (
            f"eps ~ n^-{fmt(eps)}: the RMS of the raw gradient of w at init "
            f"(n^-a x backward n^-(a_out + b_out) below the readout, n^-a at the readout); "
            f"a constant eps would swamp sqrt(v) as width grows (Everett et al. 2024)"
        )

    def wd_exponent(
        self, kind: str, c: sympy.Expr, convention: str
    ) -> tuple[sympy.Expr | None, str]:
        """Weight-decay exponent (lambda ~ n^-wd) under ``convention``, and why."""
        if self.decay is None:
            return None, f"{self.name} has no weight decay"
        if self.decay == "l2":
            return None, (
                f"{self.name}'s weight_decay adds lambda*p to the gradient before the "
                f"normalisation (L2, not decoupled), so no width rule follows; use adamw"
            )
        if convention == "coupled":
            wd = sympy.expand(-c)
            return wd, (
                f"wd = {fmt(wd)} = -c: {self.name} decays p <- p(1 - lr*lambda); keeping the "
                f"per-step decay lr*lambda width-independent (coupled convention: mup's MuAdam, "
                f"CompleteP, Wang & Aitchison 2024) needs lambda ~ n^c"
            )
        return sympy.Integer(0), (
            "wd = 0: independent convention p <- p(1 - lambda) with lambda width-independent "
            "(Wortsman et al. 2023); in torch set weight_decay = lambda / lr per group"
        )
