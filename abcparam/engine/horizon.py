"""Training horizon T and batch size B beside width n and depth L: how the learning rate, Adam's
β and ε, and the weight decay move when B or T change.

Each rule is a :class:`HorizonRule`: scale laws ``quantity -> expression`` in the symbols
T (steps), B (batch, samples per step), D (samples the run draws from), and whether it is
**derived** from a stated model (the rule follows from it, ``.why`` says how) or **fitted**
(an empirical law: constants, the range it was fitted on and its source are data,
``engine/fitted.py``).

- ``sde_batch``: Adam's stochastic-differential-equation square-root rule (Malladi et al. 2022,
  arXiv 2205.10287, Def. of the square-root scaling rule): B × κ → η × √κ, 1 − β × κ, ε ÷ √κ,
  valid below the critical batch size.  SGD's linear rule (Goyal et al. 2017; the SDE of Li,
  Malladi & Arora 2021): B × κ → η × κ.
- ``ema_timescale``: AdamW's weights are an exponential moving average of its updates with
  timescale τ_iter = 1/(ηλ) steps (coupled decay; 1/λ independent); τ_epoch = τ_iter·B/D held
  fixed (Wang & Aitchison 2024, arXiv 2405.13698, Sec. 3) ⇒ λ ∝ B/(η D) (coupled), λ ∝ B/D
  (independent).
- ``layer_weight_decay``: per layer, the width/depth exponent the engine derived (``wd``) times
  the timescale rule: the same as keeping each layer's τ_iter at its base value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sympy

from .exponents import L, N, fmt
from .optimizers import get_optimizer
from .rules_table import Rules

#: training horizon in optimizer steps (tokens = T·B·sequence)
T = sympy.Symbol("T", positive=True)
#: batch size in samples per step
B = sympy.Symbol("B", positive=True)
#: samples the run draws from (one pass over fresh data: D = T·B)
D = sympy.Symbol("D", positive=True)
#: the learning rate's factor from the batch/horizon rules (λ's coupled timescale divides by it)
ETA = sympy.Symbol("eta", positive=True)

KINDS = ("derived", "fitted")
#: quantities a rule may move
QUANTITIES = ("lr", "one_minus_beta", "eps", "weight_decay", "batch", "steps")

ADAM_FAMILY = ("adam", "adamw", "adam-atan2", "adafactor")
LINEAR_SCALING = ("sgd",)


@dataclass(frozen=True)
class HorizonRule:
    """One batch/horizon rule: ``laws[quantity]`` is that quantity's scale (an expression in
    T, B, D, n, L), ``why[quantity]`` the reason, ``kind`` derived or fitted."""

    name: str
    kind: str
    laws: Mapping[str, sympy.Expr]
    why: Mapping[str, str]
    holds: str
    source: str
    valid: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"rule kind {self.kind!r}; accepted: {', '.join(KINDS)}")
        unknown = set(self.laws) - set(QUANTITIES)
        if unknown:
            raise ValueError(f"unknown quantities {sorted(unknown)}; accepted: {QUANTITIES}")

    def factor(self, quantity: str, base: Mapping[sympy.Symbol, float], target) -> float:
        """The law's ratio target/base for numeric symbol values (1 where it does not move)."""
        law = self.laws.get(quantity)
        if law is None:
            return 1.0
        return float(law.subs(target) / law.subs(base))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "laws": {q: fmt(e) for q, e in self.laws.items()},
            "why": dict(self.why),
            "holds": self.holds,
            "valid": self.valid,
            "source": self.source,
            **({"data": dict(self.data)} if self.data else {}),
        }

    def to_markdown(self) -> str:
        rows = [
            f"**{self.name}** ({self.kind}; {self.source})",
            "",
            "| quantity | scales as | why |",
        ]
        rows.append("|---|---|---|")
        for q, law in self.laws.items():
            rows.append(f"| {q} | {fmt(law)} | {self.why.get(q, '')} |")
        rows += [
            "",
            f"Held fixed: {self.holds}." + (f" Valid: {self.valid}." if self.valid else ""),
        ]
        return "\n".join(rows) + "\n"

    def to_latex(self) -> str:
        body = " \\\\\n".join(
            f"\\text{{{q.replace('_', ' ')}}} & \\propto {sympy.latex(law)}"
            for q, law in self.laws.items()
        )
        return f"\\begin{{aligned}}\n{body}\n\\end{{aligned}}"

    def __str__(self) -> str:
        return self.to_markdown()

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


def sde_batch(optimizer: str = "adamw") -> HorizonRule:
    """The SDE batch rule: Adam's square-root rule (Malladi et al. 2022), SGD's linear rule."""
    name = get_optimizer(optimizer).name
    if name in LINEAR_SCALING:
        return HorizonRule(
            name="sde-batch",
            kind="derived",
            laws={"lr": B, "steps": 1 / B},
            why={
                "lr": (
                    "SGD's step is η(g + ξ) with noise ξ of covariance Σ/B; k steps drift by kηg "
                    "and diffuse by η√(k/B)·σ.  B × κ with k ÷ κ (the same data) keeps both iff "
                    "η × κ: the linear scaling rule (Goyal et al. 2017; Li, Malladi & Arora 2021)"
                ),
                "steps": "the same data at κ times the batch: steps ÷ κ",
            },
            holds="the SDE's time (data seen) and its drift-to-noise balance",
            valid="below the critical batch size, where gradient noise dominates the step",
            source="Goyal et al. 2017 (arXiv 1706.02677); Malladi et al. 2022 (arXiv 2205.10287)",
        )
    if name not in ADAM_FAMILY:
        raise ValueError(
            f"the SDE batch rule is derived for {', '.join(ADAM_FAMILY + LINEAR_SCALING)}; "
            f"got {optimizer!r}"
        )
    return HorizonRule(
        name="sde-batch",
        kind="derived",
        laws={"lr": sympy.sqrt(B), "one_minus_beta": B, "eps": 1 / sympy.sqrt(B), "steps": 1 / B},
        why={
            "lr": (
                "below B_crit the gradient noise dominates Adam's second moment, √v ≈ σ/√B, so a "
                "step is η√B·g/σ (drift) plus η·(unit noise); k steps drift kη√B·g/σ and diffuse "
                "η√k.  B × κ with k ÷ κ keeps both iff η × √κ (Malladi et al. 2022, square-root "
                "scaling rule)"
            ),
            "one_minus_beta": (
                "the moment averages span 1/(1 − β) steps; the same span of data in κ times fewer "
                "steps needs 1 − β × κ"
            ),
            "eps": "ε is compared with √v ≈ σ/√B, which falls by √κ: ε ÷ √κ",
            "steps": "the same data at κ times the batch: steps ÷ κ",
        },
        holds="the SDE's time (data seen) and its drift-to-noise balance",
        valid="below the critical batch size, where gradient noise dominates Adam's second moment",
        source="Malladi et al. 2022, On the SDEs and Scaling Rules for Adaptive Gradient Algorithms "
        "(arXiv 2205.10287)",
    )


def ema_timescale(convention: str = "coupled") -> HorizonRule:
    """AdamW's EMA timescale held fixed in epochs (Wang & Aitchison 2024)."""
    if convention == "coupled":
        law = B / (ETA * D)
        why = (
            "coupled AdamW decays p ← p(1 − ηλ) each step: the weights are an EMA of the updates "
            "over τ_iter = 1/(ηλ) steps, i.e. τ_epoch = τ_iter·B/D epochs; holding τ_epoch fixed "
            "gives λ ∝ B/(η D), with η the learning rate the other rules set"
        )
    elif convention == "independent":
        law = B / D
        why = (
            "independent decay p ← p(1 − λ) each step: τ_iter = 1/λ steps, τ_epoch = B/(λD) "
            "epochs; holding τ_epoch fixed gives λ ∝ B/D (no learning rate in it)"
        )
    else:
        raise ValueError(f"weight_decay convention {convention!r}; accepted: coupled, independent")
    return HorizonRule(
        name="ema-timescale",
        kind="derived",
        laws={"weight_decay": law},
        why={"weight_decay": why},
        holds="τ_epoch = τ_iter·B/D, the EMA's span as a fraction of the data (one pass: D = T·B)",
        valid="AdamW in the regime where the weights forget their initialisation (τ_iter < T)",
        source="Wang & Aitchison 2024, How to set AdamW's weight decay as you scale model and "
        "dataset size (arXiv 2405.13698); Bergsma et al. 2025, Power Lines (arXiv 2505.13738) "
        "find λ* ∝ B at fixed model and data, as this rule says",
        data={"convention": convention},
    )


def layer_weight_decay(
    rules: Rules, lr_law: sympy.Expr = sympy.S.One
) -> dict[str, sympy.Expr | None]:
    """Per layer kind, λ's scale in n, L, B, D: the width/depth factor the engine derived
    (``rules[kind].factor("wd")``) times the timescale rule with the batch/horizon LR factor
    ``lr_law`` (e.g. √B from ``sde_batch``); None where the optimizer's decay is L2 (Adam)."""
    timescale = ema_timescale(rules.weight_decay).laws["weight_decay"].subs(ETA, lr_law)
    out = {}
    for kind in rules.kinds:
        width_depth = rules[kind].factor("wd")
        out[kind] = None if width_depth is None else sympy.simplify(width_depth * timescale)
    return out


def timescale_exponent_check(rules: Rules) -> dict[str, bool]:
    """Per kind: does keeping the layer's own τ_iter fixed across widths (coupled: ηλ constant;
    independent: λ constant) give the engine's derived ``wd`` exponent?  (A consistency check
    of the two derivations, used by the tests and the book.)"""
    out = {}
    for kind in rules.kinds:
        rule = rules[kind]
        if rule.wd is None:
            continue
        expected = -rule.c if rules.weight_decay == "coupled" else sympy.Integer(0)
        out[kind] = sympy.simplify(rule.wd - expected) == 0
    return out


def symbols() -> dict[str, sympy.Symbol]:
    """The scaling symbols by name: n (width), L (depth), T (steps), B (batch), D (data)."""
    return {"n": N, "L": L, "T": T, "B": B, "D": D}
