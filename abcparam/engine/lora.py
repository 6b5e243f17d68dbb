"""LoRA adapters with the rank as a second symbol: the factors' init, multiplier and LR exponents.

An adapter adds ``s * B A`` to a frozen weight ``W0`` (Hu et al. 2021): ``A`` is ``r x n_in``,
``B`` is ``n_out x r``, ``B = 0`` at init, ``s`` the multiplier (LoRA's ``alpha / r``).  Every
quantity here scales as ``n^-x r^-y`` and is kept as the pair ``(x, y)`` of exact exponents.

The derivation follows Everett et al. 2024's recipe one level down.  For one adapted layer fed
by inputs ``x`` with Theta(1) entries, with ``h = A x`` the adapter's bottleneck:

* stability at init: ``h = Theta(1)`` fixes A's init (a CLT sum over ``n_in``: std n_in^-1/2);
* the bottleneck may move but not blow up: ``dh = dA x = Theta(1)``;
* the adapter's output change is maximal: ``s dB h = Theta(1)`` (and then ``s B dh`` is too).

Two sums appear that a plain weight does not have, both over the rank: ``dB h`` and ``B dh``.
Their alignment ``rank_alignment`` is the rank's analogue of Everett's alpha: 1 when the update's
columns are built from the very ``h`` they multiply (the first steps: ``dB ~ g h^T``), 1/2 when
they are as good as independent of it (many steps over varied inputs).  LoRA's ``alpha / r``
follows from 1, rsLoRA's ``alpha / sqrt(r)`` (Kalajdzievski 2023, arXiv 2312.03732) from 1/2, and
LoRA+'s ``eta_B / eta_A = Theta(n)`` (Hayou et al. 2024, arXiv 2402.12354) from the width part.
Muon on the factors (LoRA-Muon) fixes operator norms instead of entries, which takes the rank
alignment out of ``s dB h``: the multiplier needs no rank factor (see :func:`lora_rules`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sympy

from .exponents import EMBEDDING, HALF, HIDDEN, READOUT, canonical_kind, exact, fmt
from .optimizers import get_optimizer
from .optimizers.muon import Muon

#: The rank of the adapter: a second symbol beside the width ``n``.
R = sympy.Symbol("r", positive=True)
#: Which of (fan-out, fan-in) grows with the width, per adapted layer kind.
SHAPES: dict[str, tuple[int, int]] = {EMBEDDING: (1, 0), HIDDEN: (1, 1), READOUT: (0, 1)}
#: What the user may fix for the (multiplier, B's LR) pair, whose product alone is derived.
GAUGES: tuple[str, ...] = ("lr", "multiplier")
#: Named multiplier conventions: rank exponent of s (s ~ r^-y).
MULTIPLIERS: dict[str, sympy.Expr] = {"lora": sympy.Integer(1), "rslora": HALF, "none": 0 * HALF}


@dataclass(frozen=True)
class Scale:
    """``n^-width r^-rank``: the exponents of one quantity in the width and in the rank."""

    width: sympy.Expr
    rank: sympy.Expr

    def __add__(self, other: Scale) -> Scale:
        return Scale(sympy.expand(self.width + other.width), sympy.expand(self.rank + other.rank))

    def __sub__(self, other: Scale) -> Scale:
        return Scale(sympy.expand(self.width - other.width), sympy.expand(self.rank - other.rank))

    def __neg__(self) -> Scale:
        return Scale(-self.width, -self.rank)

    def factor(self) -> sympy.Expr:
        """The scale as a sympy monomial in n and r."""
        return sympy.Symbol("n", positive=True) ** (-self.width) * R ** (-self.rank)

    def __str__(self) -> str:
        return str(self.factor())


ZERO = Scale(sympy.Integer(0), sympy.Integer(0))


def _w(x: Any) -> Scale:
    return Scale(sympy.sympify(x), sympy.Integer(0))


def _r(y: Any) -> Scale:
    return Scale(sympy.Integer(0), sympy.sympify(y))


@dataclass(frozen=True)
class FactorRule:
    """One factor's derived exponents: init std (None: zero init), LR, Adam epsilon, decay."""

    name: str
    init: Scale | None
    lr: Scale
    eps: Scale | None
    wd: Scale | None
    why: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoraRules:
    """The adapter's rules: the multiplier ``s``, the factors A and B, and the assumptions."""

    optimizer: str
    kind: str
    width_alignment: sympy.Expr
    rank_alignment: sympy.Expr
    multiplier: Scale
    A: FactorRule
    B: FactorRule
    why: Mapping[str, str]

    @property
    def lr_ratio(self) -> Scale:
        """``eta_B / eta_A`` as ``n^-x r^-y`` (LoRA+: Theta(n) for Adam on a hidden layer)."""
        return self.B.lr - self.A.lr

    def to_dict(self) -> dict[str, Any]:
        def pair(s: Scale | None) -> dict[str, str] | None:
            return None if s is None else {"width": fmt(s.width), "rank": fmt(s.rank)}

        factors = {
            f.name: {
                "init": pair(f.init),
                "lr": pair(f.lr),
                "eps": pair(f.eps),
                "wd": pair(f.wd),
                "why": dict(f.why),
            }
            for f in (self.A, self.B)
        }
        return {
            "optimizer": self.optimizer,
            "kind": self.kind,
            "width_alignment": fmt(self.width_alignment),
            "rank_alignment": fmt(self.rank_alignment),
            "multiplier": pair(self.multiplier),
            "lr_ratio_B_over_A": pair(self.lr_ratio),
            "factors": factors,
            "why": dict(self.why),
        }

    def to_markdown(self) -> str:
        """One row per factor: each entry the factor ``n^-x r^-y`` it scales by."""

        def cell(s: Scale | None) -> str:
            return "0 (zero init)" if s is None else f"${sympy.latex(s.factor())}$"

        rows = [
            f"LoRA on a {self.kind} layer, {self.optimizer}; width alignment "
            f"{fmt(self.width_alignment)}, rank alignment {fmt(self.rank_alignment)}; "
            f"multiplier s ~ {cell(self.multiplier)}",
            "",
            "| factor | init std | LR | epsilon | weight decay |",
            "|---|---|---|---|---|",
        ]
        for f in (self.A, self.B):
            eps = "—" if f.eps is None else cell(f.eps)
            wd = "—" if f.wd is None else cell(f.wd)
            rows.append(f"| {f.name} | {cell(f.init)} | {cell(f.lr)} | {eps} | {wd} |")
        return "\n".join(rows)

    def to_latex(self) -> str:
        return sympy.latex(
            sympy.Matrix(
                [
                    [self.A.lr.factor(), self.B.lr.factor()],
                    [
                        self.A.init.factor() if self.A.init else 0,
                        self.B.init.factor() if self.B.init else 0,
                    ],
                ]
            )
        )


def _fraction_in_range(value: Any, what: str) -> sympy.Expr:
    expr = exact(value, what)
    if isinstance(expr, sympy.Symbol):
        return expr
    if not expr.is_number or not (HALF <= expr <= 1):
        raise ValueError(f"{what} = {value!r} lies outside the accepted range [1/2, 1]")
    return expr


def _width_alignment(value: Any) -> sympy.Expr:
    if value == "full":
        return sympy.Integer(1)
    if value == "none":
        return HALF
    return _fraction_in_range(value, "alignment")


def _family(name: str) -> str | Muon:
    """The update family of an engine optimizer: 'normalised' (entries set by the LR: Adam,
    AdamW, Lion, sign, Adam-atan2), 'sgd' (entries follow the gradient) or a Muon model."""
    model = get_optimizer(name).optimizer_for(HIDDEN)  # a Muon name alone is a per-kind plan
    if isinstance(model, Muon):
        return model
    if model.name == "sgd":
        return "sgd"
    if model.name == "adafactor":
        raise ValueError(
            "optimizer 'adafactor' scales steps by each factor's RMS, which is 0 for B at init; "
            "accepted for LoRA: sgd, adam, adamw, adam-atan2, lion, sign, muon, muon-rms, "
            "muon-none"
        )
    return "normalised"


def lora_rules(
    optimizer: str = "adam",
    *,
    kind: str = "hidden",
    alignment: Any = "full",
    rank_alignment: Any = 1,
    gauge: str = "lr",
    multiplier: str | Any = "lora",
    multiplier_width: Any = 0,
    backward: Any = None,
    weight_decay: str = "coupled",
) -> LoraRules:
    """Derive a LoRA adapter's exponents in the width n and the rank r (module docstring).

    ``gauge="lr"``: B's LR is held independent of the rank and the multiplier's rank exponent is
    derived (what LoRA and rsLoRA do); ``gauge="multiplier"``: the multiplier is the named
    convention (``"lora"`` alpha/r, ``"rslora"`` alpha/sqrt(r), ``"none"``) and B's LR is derived.
    ``multiplier_width``: the multiplier's width exponent (0: LoRA has none).  ``backward``: the
    width exponent of dL/dz at the adapted layer's output (SGD only; default: 1 below the
    readout as in muP, 0 at the readout).

    >>> r = lora_rules("adam")
    >>> str(r.multiplier), str(r.A.lr), str(r.B.lr), str(r.lr_ratio)
    ('1/r', '1/n', '1', 'n')
    >>> str(lora_rules("adam", rank_alignment="1/2").multiplier)
    '1/sqrt(r)'
    """
    kind = canonical_kind(kind)
    family = _checked_family(optimizer, kind, gauge, weight_decay)
    d_out, d_in = SHAPES[kind]
    alpha_w = _width_alignment(alignment)
    alpha_r = _fraction_in_range(rank_alignment, "rank_alignment")
    gamma = exact(backward if backward is not None else (0 if kind == READOUT else 1), "backward")
    s_width = exact(multiplier_width, "multiplier_width")
    s_rank = _given_multiplier(multiplier) if gauge == "multiplier" else None
    why: dict[str, str] = {
        "h": _WHY_H,
        "rank_alignment": (
            f"dB h and B dh sum r terms with alignment {fmt(alpha_r)}: 1 when dB ~ g h^T is "
            f"built from the h it multiplies (first steps), 1/2 when independent of it"
        ),
    }
    g = _w(gamma)
    k_s, target_B, lr_A = _targets(family, alpha_w, alpha_r, g, gamma, d_in, d_out, why)
    s_scale = Scale(s_width, s_rank if s_rank is not None else sympy.expand(target_B.rank / k_s))
    why["multiplier"] = (
        f"s ~ {s_scale}: given ({multiplier})"
        if s_rank is not None
        else f"s ~ {s_scale}: with B's LR independent of the rank, s dB h = Theta(1) needs "
        f"r^-{fmt(s_scale.rank)} (rank alignment {fmt(alpha_r)})"
    )
    lr_B = target_B - Scale(k_s * s_scale.width, k_s * s_scale.rank)
    why["lr_A"] = (
        f"eta_A ~ {lr_A}: dA x sums n_in terms of dA (alignment {fmt(alpha_w)}); a Theta(1) "
        f"change of the bottleneck h sets A's LR"
    )
    why["lr_B"] = f"eta_B ~ {lr_B}: s dB h = Theta(1) with s ~ {s_scale}"
    model = get_optimizer(optimizer).optimizer_for(kind)
    eps_B = eps_A = None
    if model.has_eps:
        # raw gradients: dL/dB = s g h^T at init; dL/dA = s (B^T g) x^T once B ~ eta_B moved
        eps_B, eps_A = s_scale + g, s_scale + lr_B + g - _w(alpha_w * d_out)
        why["eps"] = (
            "eps tracks each factor's raw gradient RMS: s g h^T for B, s (B^T g) x^T for A "
            "once B has moved by its LR"
        )
    wd_B = wd_A = None
    if model.decay == "decoupled":
        wd_B, wd_A = (-lr_B, -lr_A) if weight_decay == "coupled" else (ZERO, ZERO)
    b_why = {"init": "zero: the adapted model starts as W0", "lr": why["lr_B"]}
    return LoraRules(
        optimizer=model.name,
        kind=kind,
        width_alignment=alpha_w,
        rank_alignment=alpha_r,
        multiplier=s_scale,
        A=FactorRule("A", _w(HALF * d_in), lr_A, eps_A, wd_A, {"init": _WHY_H, "lr": why["lr_A"]}),
        B=FactorRule("B", None, lr_B, eps_B, wd_B, b_why),
        why=why,
    )


def _given_multiplier(multiplier: str | Any) -> sympy.Expr:
    """The rank exponent of a named multiplier convention (``MULTIPLIERS``) or a given one."""
    if isinstance(multiplier, str) and multiplier not in MULTIPLIERS:
        raise ValueError(f"multiplier = {multiplier!r}; accepted: {', '.join(MULTIPLIERS)}")
    return MULTIPLIERS[multiplier] if isinstance(multiplier, str) else exact(multiplier)


#: Why A's init std is n_in^-1/2.
_WHY_H = (
    "h = A x sums n_in entries of an independent init (CLT): A's std n_in^-1/2 keeps "
    "the bottleneck Theta(1)"
)


def _checked_family(optimizer: str, kind: str, gauge: str, weight_decay: str) -> str | Muon:
    """The optimizer's update family, after rejecting a kind LoRA cannot adapt (LoRA-Muon:
    hidden only), an unknown gauge or weight-decay convention."""
    if kind not in SHAPES:
        raise ValueError(f"LoRA adapts a matrix; kind {kind!r} is not one ({', '.join(SHAPES)})")
    if gauge not in GAUGES:
        raise ValueError(f"gauge = {gauge!r}; accepted: {', '.join(GAUGES)}")
    if weight_decay not in ("coupled", "independent"):
        raise ValueError(f"weight_decay = {weight_decay!r}; accepted: coupled, independent")
    family = _family(optimizer)
    if isinstance(family, Muon) and kind != HIDDEN:
        raise ValueError(
            f"LoRA-Muon is derived for hidden (n x n) layers, where r <= n on both sides; "
            f"kind {kind!r}: use adam or sgd on its factors"
        )
    return family


def _lowrank_scale(muon: Muon, rows_grow: bool) -> Scale:
    """Muon's shape factor s(A, B) on an n x r (``rows_grow``) or r x n LoRA factor, for rank
    r <= width n (optimizers/muon.py names the conventions)."""
    zero, half = sympy.Integer(0), HALF
    if muon.scaling == "original":  # sqrt(max(1, A/B)): sqrt(n/r) for n x r, 1 for r x n
        return Scale(-half, half) if rows_grow else Scale(zero, zero)
    if muon.scaling == "match_rms_adamw":  # 0.2 sqrt(max(A, B)) = 0.2 sqrt(n)
        return Scale(-half, zero)
    return Scale(zero, zero)


def _targets(
    family: Any,
    alpha_w: sympy.Expr,
    alpha_r: sympy.Expr,
    g: Scale,
    gamma: sympy.Expr,
    d_in: int,
    d_out: int,
    why: dict[str, str],
) -> tuple[int, Scale, Scale]:
    """(k_s, target_B, target_A) of the two conditions, and ``why["update"]``.

    Condition 1, s dB h = Theta(1), fixes k_s * s + c_B = target_B (k_s = 2 where B's step
    carries s, as SGD's gradient does).  Condition 2, dA x = Theta(1), fixes c_A = target_A."""
    if family == "normalised":
        # entries of dB, dA are their LRs; dB h sums r aligned terms, dA x sums n_in
        why["update"] = "normalised steps (Adam-like): the factors' entries move by their LR"
        return 1, _r(alpha_r), _w(alpha_w * d_in)
    if family == "sgd":
        # dB = eta_B s g h^T; dA = eta_A s (B^T g) x^T with B ~ dB, B^T g summing n_out
        # aligned terms; substituting condition 1 into condition 2 gives target_A
        target_B = _r(alpha_r) - g
        why["update"] = (
            f"SGD: dB = eta_B s g h^T with g ~ n^-{fmt(gamma)}, dA = eta_A s (B^T g) x^T; "
            f"B's step carries s, so s enters condition 1 twice"
        )
        return 2, target_B, -target_B - g - g + _w(alpha_w * (d_in + d_out))
    assert isinstance(family, Muon)
    # norms, not entries: ||dB h|| = eta_B S_B ||h|| (h in dB's row space R^r), RMS over
    # n_out rows; ||dA x|| = eta_A S_A ||x|| (x in dA's row space), RMS over r rows
    scale_B, scale_A = _lowrank_scale(family, True), _lowrank_scale(family, False)
    why["update"] = (
        f"{family.name}: operator norms are fixed (scale {scale_B} on B, n x r, and "
        f"{scale_A} on A, r x n), so dB h and dA x follow from norms and the rank "
        f"alignment drops out"
    )
    return 1, -scale_B + _r(HALF) - _w(HALF * d_out), -scale_A + _w(HALF * d_in) - _r(HALF)


__all__ = ["R", "Scale", "FactorRule", "LoraRules", "lora_rules"]
