"""Where a constant Adam epsilon stops being negligible (Everett et al. 2024, "Adam epsilon").

Adam divides by ``sqrt(v) + eps``; ``sqrt(v)`` tracks the RMS of the raw gradient of w, which scales
as ``n^-g`` (g = the rules' ``eps`` exponent).  With a constant eps the ratio ``eps / sqrt(v)`` grows
like ``n^g``: once it passes 1 the layer's step becomes ``lr * grad / eps`` (SGD-like, shrinking
with width).  Given the gradient RMS measured at a base width n0, the crossover width is

    n* = n0 * (grad_rms(n0) / eps) ** (1 / g)        (g > 0; never for g <= 0)

Scaling ``eps_l = eps * (n/n0)^-g`` keeps the ratio fixed; Adam-atan2 has no eps at all.

One criterion, for the prediction and the measurement alike: the crossover is the width where
eps equals the RMS of the gradient Adam normalises (on Adam's first step sqrt(v) = |grad|
exactly).  :func:`crossover_width` finds it on the predicted power law, :func:`crossing` on
gradient RMS measured at several widths; there a first Adam step keeps half of its eps-free
size (:func:`step_fraction`), which is what the measured update ratios are compared with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .exponents import canonical_kind
from .rules_table import Rules


@dataclass(frozen=True)
class Crossover:
    """One layer kind's epsilon crossover."""

    kind: str
    exponent: object  # the sympy exponent g of the gradient RMS (n^-g), None without eps
    grad_rms_base: float
    eps: float
    width: float  # math.inf when eps never reaches sqrt(v)

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "gradient_exponent": None if self.exponent is None else str(self.exponent),
            "grad_rms_base": self.grad_rms_base,
            "eps": self.eps,
            "crossover_width": None if math.isinf(self.width) else self.width,
        }


def crossover_width(g, grad_rms_base: float, eps: float, base_width: float) -> float:
    """Width at which a constant ``eps`` equals a gradient RMS that is ``grad_rms_base`` at
    ``base_width`` and scales as ``n^-g``; ``inf`` if it never does (g <= 0 and eps below it)."""
    for name, value in (("grad_rms_base", grad_rms_base), ("eps", eps), ("base_width", base_width)):
        if not (math.isfinite(value) and value > 0):  # nan fails every comparison: test it too
            raise ValueError(f"{name} = {value}; accepted: a finite number > 0")
    g = float(g)
    ratio = grad_rms_base / eps
    if g == 0:  # the ratio never changes: eps dominates everywhere or nowhere
        return math.inf if ratio >= 1 else 0.0
    if g < 0 and ratio >= 1:  # the gradient grows with width: eps only falls further behind
        return math.inf
    return base_width * ratio ** (1.0 / g)


def crossing(widths: Sequence[float], grad_rms: Sequence[float], eps: float) -> float | None:
    """The crossover criterion on measurements: the first width where the measured gradient RMS
    falls to ``eps`` (log-log interpolation between neighbouring widths); None when it stays
    above eps over the widths, the first width when it starts at or below it.  On an exact
    power law it equals :func:`crossover_width`."""
    pairs = sorted(zip(widths, grad_rms))
    if not pairs or not all(w > 0 and g > 0 for w, g in pairs):
        raise ValueError("crossing needs positive widths and gradient RMS values")
    if pairs[0][1] <= eps:
        return float(pairs[0][0])
    for (w0, g0), (w1, g1) in zip(pairs, pairs[1:]):
        if g0 > eps >= g1:
            t = (math.log(g0) - math.log(eps)) / (math.log(g0) - math.log(g1))
            return math.exp(math.log(w0) + t * (math.log(w1) - math.log(w0)))
    return None


def step_fraction(grad_rms: float, eps: float) -> float:
    """The share of its eps-free size that Adam's first step ``g / (|g| + eps)`` keeps for an
    entry of size ``grad_rms``: 1/2 at the crossover.  The ratio of a constant-eps to a
    scaled-eps step is ``step_fraction(g, eps) / step_fraction(g, eps_scaled)``."""
    return grad_rms / (grad_rms + eps)


def crossovers(
    rules: Rules,
    eps: float,
    base_width: float,
    grad_rms_base: Mapping[str, float] | float,
    scaled: bool = False,
) -> list[Crossover]:
    """Per layer kind of ``rules``: the width where a constant ``eps`` reaches sqrt(v).

    ``grad_rms_base``: the raw-gradient RMS per kind measured at ``base_width`` (or one number for
    all).  ``scaled=True`` applies the rules' per-layer eps scaling, which moves every crossover to
    infinity (or keeps it below the base width if eps already dominates there).
    """
    if rules.optimizer == "adam-atan2":
        raise ValueError(
            "Adam-atan2 has no epsilon (Everett et al. 2024, App. Adam-atan2): nothing crosses over"
        )
    if rules.optimizer == "sgd":
        raise ValueError("SGD has no epsilon; accepted optimizers here: adam, adafactor")
    if all(rule.eps is None for rule in rules):
        raise ValueError(
            f"{rules.optimizer} has no epsilon; accepted optimizers here: adam, adamw, adafactor"
        )
    if isinstance(grad_rms_base, Mapping):
        measured = {canonical_kind(k): float(v) for k, v in grad_rms_base.items()}
    else:
        measured = {kind: float(grad_rms_base) for kind in rules.kinds}
    out = []
    for kind, value in measured.items():
        g = rules[kind].eps
        if g is None:  # a kind whose optimizer has no epsilon (e.g. Muon in a plan)
            continue
        width = crossover_width(0 if scaled else g, value, eps, base_width)
        out.append(Crossover(kind, g, value, eps, width))
    return out
