r"""Width and learning-rate scaling of the two slow instabilities of Wortsman et al. 2023
(arXiv 2309.14322): attention-logit growth (their Sec. 3.1) and output-logit divergence (Sec. 3.2),
derived from a scheme's exponents (Everett et al. 2024's form ``W = n^-a w``, ``lr = eta n^-c``)
and its attention logit scale ``d_head^-x`` (TP-V Def. 4.1: x = 1 for μP, 1/2 for SP).

The model (each assumption named, so a failed forecast says which one broke):

- **A1 (head size).** The head count is fixed, so ``d_head ∝ n``.
- **A2 (Adam steps, coherent in time).** An Adam-like step moves each entry of ``w_l`` by
  ``Θ(eta n^-c_l)``; over ``t`` steps in a consistent direction the entries of ``ΔW_l`` are
  ``eta t n^-(a_l + c_l)`` (the slow, steady growth Wortsman et al. observe).
- **A3 (alignment).** ``ΔW_l x`` sums ``n`` coordinates of the layer input with alignment exponent
  ``alpha`` (Everett et al.: 1 = fully correlated, 1/2 = independent): a query or key coordinate
  moves by ``Δ = eta t n^(alpha - a_h - c_h)``; a logit of the readout by
  ``eta t n^(alpha - a_out - c_out)``.
- **A4 (correlated q and k).** Once queries and keys have moved, their product sums ``d_head``
  coherent terms: the logit's moved part is ``z ≈ d^(1 - x) Δ^2``, quadratic in ``eta t``.  (At
  initialisation q and k are independent and ``z_0 ~ d^(1/2 - x)``.)
- **A5 (onset).** Growth "starts" at the learning rate where ``z`` reaches a fixed threshold
  ``z*`` after a fixed number of steps: ``eta*(n) ∝ n^-e`` with
  ``e = (alpha - a_h - c_h) + (1 - x) / 2``; the constant is calibrated at one width.
- **A4' (small rise: the cross term).** While ``Δ`` is small beside the Θ(1) initial coordinates
  the moved logit is led by ``q_0·Δk`` (``Δk`` is correlated with ``q_0``: its gradient carries
  the queries), ``z ≈ d^(1 - x) Δ``, linear in ``eta t``; a threshold reached in that regime moves
  as ``n^-(alpha - a_h - c_h + 1 - x)`` (``onset_lr_linear``).  A measured onset exponent lies
  between the two, nearer this one the smaller the rise that defines the onset.
- **A6 (log Z).** The output logits drift together (a shared shift, as in the paper's Fig. 4): log Z
  moves with the readout's logit change, ``∝ eta t n^(alpha - a_out - c_out)``; at
  initialisation the logits are ``n^(1/2 - a_out - b_out)`` (independent readout weights) and
  ``log Z ≈ log V``.

For μP (hidden ``a + c = 1``, ``x = 1``, readout ``a + c = 1``) every exponent is 0: the onset LR
does not move with width.  For SP with one learning rate (``c = 0``, ``x = 1/2``) the onset moves
as ``n^-5/4`` (``n^-3/2`` for a small rise, A4') and log Z's drift grows as ``n``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from .exponents import HALF, fmt
from .rules_table import Rules

ONE = sympy.Integer(1)


@dataclass(frozen=True)
class InstabilityScaling:
    """Width exponents (``quantity ∝ n^e``) of the instability quantities under one set of rules,
    and their learning-rate exponents; ``why`` says which assumption (A1..A6) gave each."""

    scheme: str | None
    attention_logit_init: sympy.Expr
    query_change: sympy.Expr
    attention_logit_growth: sympy.Expr
    attention_logit_lr_power: sympy.Expr
    onset_lr: sympy.Expr
    onset_lr_linear: sympy.Expr
    output_logit_init: sympy.Expr
    log_z_drift: sympy.Expr
    log_z_lr_power: sympy.Expr
    why: dict[str, str]

    def onset_lrs(self, base_width: int, base_lr: float, widths: list[int]) -> dict[int, float]:
        """The onset learning rate at each width, calibrated at ``base_width`` (A5)."""
        e = float(self.onset_lr)
        return {w: base_lr * (w / base_width) ** e for w in widths}

    def to_dict(self) -> dict:
        names = (
            "attention_logit_init",
            "query_change",
            "attention_logit_growth",
            "attention_logit_lr_power",
            "onset_lr",
            "onset_lr_linear",
            "output_logit_init",
            "log_z_drift",
            "log_z_lr_power",
        )
        return {"scheme": self.scheme, **{k: fmt(getattr(self, k)) for k in names}}


def instability_scaling(rules: Rules, alignment: sympy.Expr | int = 1) -> InstabilityScaling:
    """Derive how attention logits and log Z scale with width and LR under ``rules`` (any
    :class:`~abcparam.Rules`), with ``alignment`` the exponent of the ``ΔW x`` sums (A3).

    >>> import abcparam
    >>> s = instability_scaling(abcparam.rules("mup", optimizer="adam"))
    >>> s.onset_lr, s.attention_logit_growth, s.log_z_drift
    (0, 0, 0)
    """
    alpha = sympy.sympify(alignment)
    if alpha.is_number and not (HALF <= alpha <= ONE):
        raise ValueError(f"alignment = {alpha}; accepted: a number in [1/2, 1] or a symbol")
    hidden, readout = rules["hidden"], rules["readout"]
    x = sympy.sympify(rules.attention_logit_exponent)
    query = sympy.expand(alpha - hidden.a - hidden.c)
    growth = sympy.expand((ONE - x) + 2 * query)  # d^(1-x) Δ^2 with d ∝ n (A1, A4)
    onset = sympy.expand(-(query + (ONE - x) / 2))  # z* = d^(1-x) (eta n^query)^2 solved for eta
    log_z = sympy.expand(alpha - readout.a - readout.c)
    why = {
        "attention_logit_init": f"q·k of independent Θ(1) coordinates summed over d ∝ n (A1): "
        f"d^(1/2) · d^-{fmt(x)}",
        "query_change": f"Adam entries eta t n^-(a + c) = n^-({fmt(hidden.a)} + {fmt(hidden.c)}) "
        f"summed with alignment n^{fmt(alpha)} (A2, A3)",
        "attention_logit_growth": f"d^(1 - {fmt(x)}) Δ^2 (A4)",
        "onset_lr": "the LR at which d^(1-x) (eta n^query)^2 reaches a fixed threshold (A5)",
        "onset_lr_linear": "the LR at which the cross term d^(1-x) eta n^query reaches a fixed "
        "threshold (A4', small rise)",
        "output_logit_init": f"readout n^(1/2 - a - b) = n^(1/2 - {fmt(readout.a)} - "
        f"{fmt(readout.b)}) (independent weights)",
        "log_z_drift": f"readout logit change eta t n^({fmt(alpha)} - {fmt(readout.a)} - "
        f"{fmt(readout.c)}) (A2, A3, A6)",
    }
    return InstabilityScaling(
        scheme=rules.scheme,
        attention_logit_init=sympy.expand(HALF - x),
        query_change=query,
        attention_logit_growth=growth,
        attention_logit_lr_power=sympy.Integer(2),
        onset_lr=onset,
        onset_lr_linear=sympy.expand(-(query + ONE - x)),
        output_logit_init=sympy.expand(HALF - readout.a - readout.b),
        log_z_drift=log_z,
        log_z_lr_power=ONE,
        why=why,
    )


def onset_width_factor(scaling: InstabilityScaling, ratio: float) -> float:
    """How much the onset LR moves when the width is multiplied by ``ratio``: ``ratio^e``."""
    return float(ratio ** float(scaling.onset_lr))


__all__ = ["InstabilityScaling", "instability_scaling", "onset_width_factor"]
