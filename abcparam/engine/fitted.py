"""Fitted batch/horizon laws: empirical power laws with their constants, the range they were
fitted on and their source, kept as data.  The calculator applies one only when asked
(``rules=("step-law", ...)``) and warns when the run lies outside the fitted range.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import sympy

from .exponents import fmt
from .horizon import HorizonRule

#: non-embedding parameters and training tokens (Step Law's variables)
PARAMS = sympy.Symbol("N_params", positive=True)
TOKENS = sympy.Symbol("D_tokens", positive=True)


class OutsideFittedRange(UserWarning):
    """A fitted law used outside the range of its fit."""


@dataclass(frozen=True)
class FittedLaw:
    """``value = coefficient · Π variable^exponent``, fitted on ``fitted_range``."""

    name: str
    quantity: str
    coefficient: float
    exponents: Mapping[str, float]
    fitted_range: Mapping[str, tuple[float | None, float | None]]
    source: str
    note: str = ""

    def expression(self) -> sympy.Expr:
        syms = {"N": PARAMS, "D": TOKENS}
        expr = sympy.Float(self.coefficient)
        for var, e in self.exponents.items():
            expr *= syms[var] ** sympy.Float(e)
        return expr

    def value(self, **variables: float) -> float:
        return self.coefficient * math.prod(variables[v] ** e for v, e in self.exponents.items())

    def outside(self, **variables: float) -> list[str]:
        """The variables outside the fitted range, each as a sentence naming the range."""
        out = []
        for var, (lo, hi) in self.fitted_range.items():
            x = variables.get(var)
            if x is None:
                continue
            if (lo is not None and x < lo) or (hi is not None and x > hi):
                span = f"{'' if lo is None else f'{lo:.3g} ≤ '}{var}{'' if hi is None else f' ≤ {hi:.3g}'}"
                out.append(f"{self.name}: {var} = {x:.3g} is outside its fitted range {span}")
        return out

    def check(self, **variables: float) -> None:
        """Warn (OutsideFittedRange) for every variable outside the fitted range."""
        for line in self.outside(**variables):
            warnings.warn(line, OutsideFittedRange, stacklevel=3)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "quantity": self.quantity,
            "law": fmt(self.expression()),
            "fitted_range": {k: list(v) for k, v in self.fitted_range.items()},
            "source": self.source,
            "note": self.note,
        }


STEP_LAW_SOURCE = (
    "Li et al. 2025, Predictable Scale: Part I — Optimal Hyperparameter Scaling Law in Large "
    "Language Model Pretraining (arXiv 2503.04715), the Step Law formulas (Sec. 3)"
)
#: the largest grids of the Step Law fit (its Fig. 1: 1B non-embedding parameters on 100B
#: tokens); the smallest models are not recorded here, so only the upper end is checked
STEP_LAW_RANGE: dict[str, tuple[float | None, float | None]] = {"N": (None, 1e9), "D": (None, 1e11)}

STEP_LAW_LR = FittedLaw(
    name="step-law",
    quantity="lr",
    coefficient=1.79,
    exponents={"N": -0.713, "D": 0.307},
    fitted_range=STEP_LAW_RANGE,
    source=STEP_LAW_SOURCE,
    note="N: non-embedding parameters, D: training tokens; AdamW peak learning rate, SP models",
)
STEP_LAW_BATCH = FittedLaw(
    name="step-law",
    quantity="batch",
    coefficient=0.58,
    exponents={"D": 0.571},
    fitted_range=STEP_LAW_RANGE,
    source=STEP_LAW_SOURCE,
    note="the optimal batch in tokens; it depends on the data D only",
)

FITTED = {"step-law": (STEP_LAW_LR, STEP_LAW_BATCH)}


def step_law() -> HorizonRule:
    """Step Law as a batch/horizon rule: only its data dependence η ∝ D^0.307 moves the LR (its
    N dependence is the width/depth scheme's job, which it would double count); B* is reported."""
    return HorizonRule(
        name="step-law",
        kind="fitted",
        laws={"lr": TOKENS ** sympy.Float(0.307), "batch": TOKENS ** sympy.Float(0.571)},
        why={
            "lr": (
                "fitted η* = 1.79 N^-0.713 D^0.307 (N non-embedding parameters, D tokens); the "
                "calculator applies the ratio of its D factor, the width/depth rules carry N"
            ),
            "batch": "fitted optimal batch B* = 0.58 D^0.571 tokens (reported, not applied)",
        },
        holds="the fitted optimum at each (N, D)",
        valid="inside the fitted range: N ≤ 1e9 non-embedding parameters, D ≤ 1e11 tokens",
        source=STEP_LAW_SOURCE,
        data={"laws": [STEP_LAW_LR.to_dict(), STEP_LAW_BATCH.to_dict()]},
    )
