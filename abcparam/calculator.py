"""From a tuned proxy run to the real one: the target's per-layer learning rate, Adam ε and β,
weight decay, warmup and schedule, each with the rules that moved it, by how much and why.

``abcparam.transfer(base={...}, target={...}, scheme="mup", optimizer="adamw")``.  Width and
depth move each layer by the scheme's derived exponents (``abcparam.rules``); the batch and the
horizon by the rules chosen in ``rules=`` (``engine/horizon.py``: derived "sde-batch",
"ema-timescale"; ``engine/fitted.py``: fitted "step-law", opt-in).  Torch-free.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .engine.exponents import L, N
from .engine.fitted import STEP_LAW_BATCH, STEP_LAW_LR, OutsideFittedRange
from .engine.horizon import ETA, B, D, ema_timescale, sde_batch
from .engine.rules import rules as derive_rules

RULES = ("sde-batch", "ema-timescale", "step-law")
DEFAULT_RULES = ("sde-batch", "ema-timescale")
#: what each rule is (derived from a stated model, or fitted)
RULE_KINDS = {"sde-batch": "derived", "ema-timescale": "derived", "step-law": "fitted"}
BASE_KEYS = (
    "width",
    "depth",
    "batch",
    "steps",
    "lr",
    "weight_decay",
    "warmup",
    "eps",
    "beta1",
    "beta2",
    "sequence",
    "data",
    "params",
    "decay_fraction",
)
TARGET_KEYS = ("width", "depth", "batch", "steps", "sequence", "data", "params")
ALIASES = {"wd": "weight_decay", "weight-decay": "weight_decay", "bs": "batch", "eps_": "eps"}
REQUIRED = ("width", "batch", "steps", "lr")
#: torch's AdamW defaults, used when the base does not give them
DEFAULTS = {"eps": 1e-8, "beta1": 0.9, "beta2": 0.999, "weight_decay": 0.0, "warmup": 0}
DEFAULTS_DECAY = 0.1  # the decay branch of a warmup-stable-decay schedule (MiniCPM)


@dataclass(frozen=True)
class Move:
    """One rule's effect on one value: ``factor`` (target/base) and the reason."""

    rule: str
    kind: str  # derived, fitted, convention
    factor: float
    why: str


@dataclass(frozen=True)
class Value:
    """One hyperparameter of the target run (per layer kind where it differs by layer)."""

    name: str
    layer: str | None
    base: float
    target: float
    moves: tuple[Move, ...]

    @property
    def label(self) -> str:
        """fitted if a fitted rule moved it, derived if only derived ones, else convention or
        unchanged."""
        kinds = {m.kind for m in self.moves if m.factor != 1.0}
        for kind in ("fitted", "derived", "convention"):
            if kind in kinds:
                return kind
        return "unchanged"

    @property
    def factor(self) -> float:
        return self.target / self.base if self.base else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "layer": self.layer,
            "base": self.base,
            "target": self.target,
            "factor": self.factor,
            "label": self.label,
            "moves": [m.__dict__ for m in self.moves],
        }


@dataclass(frozen=True)
class Transfer:
    """The calculator's answer: every target value with its moves, the schedule, warnings."""

    base: Mapping[str, Any]
    target: Mapping[str, Any]
    scheme: str
    optimizer: str
    rules: tuple[str, ...]
    convention: str
    values: tuple[Value, ...]
    schedule: Mapping[str, Any]
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def get(self, name: str, layer: str | None = None) -> Value:
        """The value ``name`` (for ``layer`` where it is per layer)."""
        for v in self.values:
            if v.name == name and (layer is None or v.layer == layer):
                return v
        names = sorted({f"{v.name}[{v.layer}]" if v.layer else v.name for v in self.values})
        raise KeyError(f"no value {name!r} (layer {layer!r}); accepted: {', '.join(names)}")

    def __getitem__(self, key: str | tuple[str, str]) -> Value:
        return self.get(*key) if isinstance(key, tuple) else self.get(key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "optimizer": self.optimizer,
            "rules": list(self.rules),
            "weight_decay_convention": self.convention,
            "base": dict(self.base),
            "target": dict(self.target),
            "values": [v.to_dict() for v in self.values],
            "schedule": dict(self.schedule),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_markdown(self, why: bool = True) -> str:
        head = (
            f"Transfer {self.scheme} / {self.optimizer} ({self.convention} weight decay), "
            f"rules: {', '.join(self.rules) or 'none'}"
        )
        rows = [head, "", "| value | layer | base | target | × | moved by | label |"]
        rows.append("|---|---|---|---|---|---|---|")
        for v in self.values:
            moved = ", ".join(f"{m.rule} ×{m.factor:.4g}" for m in v.moves if m.factor != 1.0)
            rows.append(
                f"| {v.name} | {v.layer or '—'} | {v.base:.4g} | {v.target:.4g} | "
                f"{v.factor:.4g} | {moved or '—'} | {v.label} |"
            )
        s = self.schedule
        rows += [
            "",
            f"Schedule: {s['type']}: warmup {s['warmup']} steps, stable to step "
            f"{s['decay_start']}, linear decay to 0 over the last {s['decay_steps']} steps "
            f"(of {s['steps']}).",
        ]
        if why:
            rows += ["", "Why:"]
            seen = set()
            for v in self.values:
                for m in v.moves:
                    key = (m.rule, v.name, m.why)
                    if m.factor != 1.0 and key not in seen:
                        seen.add(key)
                        rows.append(f"- {v.name}, {m.rule} ({m.kind}): {m.why}")
        rows += [f"- note: {n}" for n in self.notes]
        rows += [f"- warning: {w}" for w in self.warnings]
        return "\n".join(rows) + "\n"

    def __str__(self) -> str:
        return self.to_markdown()

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


def _normalise(run: Mapping[str, Any], keys: tuple[str, ...], what: str) -> dict[str, Any]:
    if not isinstance(run, Mapping):
        raise TypeError(f"{what} = {run!r}; accepted: a mapping of {', '.join(keys)}")
    out: dict[str, Any] = {}
    for key, value in run.items():
        name = ALIASES.get(str(key).strip(), str(key).strip())
        if name not in keys:
            raise ValueError(f"unknown {what} key {key!r}; accepted: {', '.join(keys)}")
        if name in out:
            raise ValueError(f"{what} key {key!r} given twice")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{what} {name} = {value!r}; accepted: a number")
        value = float(value)
        may_be_zero = name in ("weight_decay", "warmup")
        if not math.isfinite(value) or value < 0 or (value == 0 and not may_be_zero):
            accepted = "≥ 0" if may_be_zero else "> 0"
            raise ValueError(f"{what} {name} = {value:g}; accepted: a finite number {accepted}")
        if name in ("beta1", "beta2") and value >= 1:
            raise ValueError(f"{what} {name} = {value:g}; accepted: 0 < beta < 1")
        if name == "decay_fraction" and value >= 1:
            raise ValueError(f"{what} decay_fraction = {value:g}; accepted: 0 < fraction < 1")
        out[name] = value
    return out


def _choose_rules(chosen: Iterable[str] | str) -> tuple[str, ...]:
    if isinstance(chosen, str):
        chosen = [r for r in chosen.split(",") if r.strip()]
    out = []
    for name in chosen:
        name = str(name).strip()
        if name not in RULES:
            raise ValueError(f"unknown rule {name!r}; accepted: {', '.join(RULES)}")
        if name not in out:
            out.append(name)
    if "sde-batch" in out and "step-law" in out:
        raise ValueError(
            "rules 'sde-batch' and 'step-law' both move the learning rate with the batch and the "
            "data; accepted: one of them"
        )
    return tuple(out)


def transfer(
    base: Mapping[str, Any],
    target: Mapping[str, Any],
    scheme: str = "mup",
    optimizer: str = "adamw",
    rules: Iterable[str] | str = DEFAULT_RULES,
    weight_decay: str = "coupled",
) -> Transfer:
    """The target run's hyperparameters from a tuned base run (see the module docstring).

    ``base``: width, batch, steps, lr (required); depth, weight_decay (wd), warmup, eps, beta1,
    beta2, sequence (tokens per sample), data (samples available; default one pass = steps ×
    batch), params, decay_fraction.  ``target``: width, depth, batch, steps, sequence, data,
    params (unset ones keep the base's).  ``weight_decay``: the convention (coupled: torch's
    AdamW, per-step decay lr·λ; independent: per-step decay λ)."""
    b, t = _runs(base, target)
    chosen = _choose_rules(rules)
    table = derive_rules(scheme, optimizer=optimizer, weight_decay=weight_decay)
    case = _Case(b, t, table, chosen, weight_decay)
    lr_moves = _lr_moves(case)
    values = _lr_values(case, lr_moves)
    if table[table.kinds[0]].eps is not None or any(table[k].eps is not None for k in table.kinds):
        values += _eps_values(case) + _beta_values(case)
    values += _decay_values(case, math.prod(m.factor for m in lr_moves))
    warmup = _warmup_value(b, t)
    values.append(warmup)
    for line, category in zip(case.caught, case.categories):  # at the caller, in order
        warnings.warn(line, category, stacklevel=2)
    return Transfer(
        base=b,
        target=t,
        scheme=table.scheme or str(scheme),
        optimizer=table.optimizer,
        rules=chosen,
        convention=weight_decay,
        values=tuple(values),
        schedule=_schedule(b, t, round(warmup.target)),
        warnings=tuple(case.caught),
        notes=tuple(case.notes),
    )


def _runs(base: Mapping[str, Any], target: Mapping[str, Any]) -> tuple[dict, dict]:
    """(base, target) checked, the target's unset keys from the base, the base's defaults."""
    b = _normalise(base, BASE_KEYS, "base")
    missing = [k for k in REQUIRED if k not in b]
    if missing:
        raise ValueError(f"base is missing {', '.join(missing)}; required: {', '.join(REQUIRED)}")
    t = _normalise(target, TARGET_KEYS, "target")
    for key in ("width", "depth", "batch", "steps", "sequence", "data", "params"):
        if key in b and key not in t:
            t[key] = b[key]
    if "depth" in t and "depth" not in b:
        raise ValueError("target depth given without a base depth; accepted: both or neither")
    for k, v in DEFAULTS.items():
        b.setdefault(k, v)
    b.setdefault("decay_fraction", DEFAULTS_DECAY)
    for run, what in ((b, "base"), (t, "target")):
        if "data" in run and run["batch"] > run["data"]:
            raise ValueError(
                f"{what} batch = {run['batch']:g} is above its data = {run['data']:g} samples; "
                "accepted: batch ≤ data"
            )
    if b["warmup"] >= b["steps"]:
        raise ValueError(
            f"base warmup = {b['warmup']:g} ≥ steps = {b['steps']:g}; accepted: warmup < steps"
        )
    return b, t


@dataclass
class _Case:
    """One transfer being worked out: the runs, the scheme's rules, the chosen batch/horizon
    rules, and the notes and warnings gathered on the way."""

    b: dict[str, Any]
    t: dict[str, Any]
    table: Any
    chosen: tuple[str, ...]
    convention: str
    notes: list[str] = field(default_factory=list)
    caught: list[str] = field(default_factory=list)
    categories: list[type[Warning]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.at = {N: self.b["width"]}, {N: self.t["width"]}
        depths = (self.b["depth"], self.t["depth"]) if "depth" in self.b else (1.0, 1.0)
        self.at[0][L], self.at[1][L] = depths
        self.kappa = self.t["batch"] / self.b["batch"]
        self.sde = sde_batch(self.table.optimizer) if "sde-batch" in self.chosen else None
        self.batches = ({B: self.b["batch"]}, {B: self.t["batch"]})

    def ratio(self, expr) -> float:
        """A width/depth factor's value at the target over its value at the base."""
        return float(expr.subs(self.at[1]) / expr.subs(self.at[0]))

    def warn(self, line: str, category: type[Warning]) -> None:
        """Kept in the answer, and raised as a warning once the values are worked out."""
        self.caught.append(line)
        self.categories.append(category)


def _lr_moves(case: _Case) -> list[Move]:
    """The batch/horizon rules' moves of every layer's learning rate (SDE batch, Step Law)."""
    b, t, sde, kappa = case.b, case.t, case.sde, case.kappa
    moves: list[Move] = []
    if sde:
        moves.append(Move("sde-batch", "derived", sde.factor("lr", *case.batches), sde.why["lr"]))
        if t["steps"] != b["steps"] / kappa:
            case.notes.append(
                f"the SDE rule is exact for steps ÷ {kappa:g} (the same data); the target's "
                f"steps × {t['steps'] / b['steps']:g} is a change of horizon, which no derived "
                "rule here moves (Time Transfer, arXiv 2410.05838, measures η* ∝ √T, 1 or 1/√T "
                "by regime): re-tune, or measure the exponent (experiments/horizon_grid.py)"
            )
    elif t["steps"] != b["steps"] or kappa != 1:
        case.notes.append("no batch/horizon rule moves the learning rate (rules without sde-batch)")
    if "step-law" in case.chosen:
        moves.append(_step_law_move(case))
    return moves


def _step_law_move(case: _Case) -> Move:
    """Step Law's fitted data factor of the learning rate, with its range and batch notes."""
    b, t = case.b, case.t
    if "sequence" not in b:
        raise ValueError("rule 'step-law' needs sequence (tokens per sample) in base")
    tokens_b = b["steps"] * b["batch"] * b["sequence"]
    tokens_t = t["steps"] * t["batch"] * t["sequence"]
    params_t = t.get("params", 12 * t.get("depth", 1) * t["width"] ** 2)
    move = Move(
        "step-law",
        "fitted",
        (tokens_t / tokens_b) ** STEP_LAW_LR.exponents["D"],
        "fitted η* = 1.79 N^-0.713 D^0.307 (Li et al. 2025, arXiv 2503.04715): the ratio "
        "of its D factor for tokens "
        f"{tokens_b:.3g} → {tokens_t:.3g}; N is the width/depth rules' job",
    )
    for line in STEP_LAW_LR.outside(N=params_t, D=tokens_t):
        case.warn(line, OutsideFittedRange)
    best = STEP_LAW_BATCH.value(D=tokens_t)
    case.notes.append(
        f"Step Law's optimal batch at {tokens_t:.3g} tokens: {best:.3g} tokens "
        f"= {best / t['sequence']:.3g} samples (target: {t['batch']:g})"
    )
    if "params" not in t:
        case.notes.append(
            f"N estimated as 12·depth·width² = {params_t:.3g} non-embedding parameters"
        )
    return move


def _lr_values(case: _Case, lr_moves: list[Move]) -> list[Value]:
    """Each layer's learning rate: the scheme's width/depth factor, then the batch/horizon's."""
    table, lr = case.table, case.b["lr"]
    lr_other = math.prod(m.factor for m in lr_moves)
    values = []
    for kind in table.kinds:
        rule = table[kind]
        scheme_why = rule.why["c"] + (f"; depth: {rule.why['c_L']}" if "c_L" in rule.why else "")
        width_lr = case.ratio(rule.lr_factor)
        moves = (Move(f"{table.scheme} width/depth", "derived", width_lr, scheme_why), *lr_moves)
        values.append(Value("lr", kind, lr, lr * width_lr * lr_other, moves))
    return values


def _eps_values(case: _Case) -> list[Value]:
    """Each layer's Adam ε: the scheme's width/depth factor, then the SDE batch rule's."""
    table, sde = case.table, case.sde
    eps_batch = sde.factor("eps", *case.batches) if sde else 1.0
    values = []
    for kind in table.kinds:
        rule = table[kind]
        if rule.eps_factor is None:
            continue
        width = case.ratio(rule.eps_factor)
        moves: tuple[Move, ...] = (
            Move(f"{table.scheme} width/depth", "derived", width, rule.why["eps"]),
        )
        if sde:
            moves += (Move("sde-batch", "derived", eps_batch, sde.why["eps"]),)
        eps = case.b["eps"]
        values.append(Value("eps", kind, eps, eps * math.prod(m.factor for m in moves), moves))
    return values


def _beta_values(case: _Case) -> list[Value]:
    """β1, β2: the SDE rule scales 1 − β with the batch (capped at β = 0)."""
    b, kappa, sde = case.b, case.kappa, case.sde
    values = []
    for name in ("beta1", "beta2"):
        one_minus = 1 - b[name]
        new = one_minus * (kappa if sde else 1.0)
        if new >= 1:
            case.warn(
                f"sde-batch: 1 − {name} × {kappa:g} = {new:.3g} ≥ 1: the square-root rule is "
                "outside its range (batch grown too far); β kept at 0",
                UserWarning,
            )
            new = 1.0
        moves: tuple[Move, ...] = ()
        if sde:
            moves = (Move("sde-batch", "derived", (1 - new) / b[name], sde.why["one_minus_beta"]),)
        values.append(Value(name, None, b[name], 1 - new, moves))
    return values


def _decay_values(case: _Case, lr_other: float) -> list[Value]:
    """Each decayed layer's weight decay: the scheme's width/depth factor, then the EMA timescale
    rule's (τ_epoch kept); an optimizer whose decay is an L2 term: a note, no value."""
    b, t, table = case.b, case.t, case.table
    decays = [k for k in table.kinds if table[k].wd is not None]
    if not (b["weight_decay"] > 0 and decays):
        if b["weight_decay"] > 0:
            case.notes.append(f"{table.optimizer}'s decay is an L2 term in the gradient: not moved")
        return []
    ema = ema_timescale(case.convention) if "ema-timescale" in case.chosen else None
    data_b = b.get("data", b["steps"] * b["batch"])
    data_t = t.get("data", t["steps"] * t["batch"])
    epochs_b, epochs_t = b["steps"] * b["batch"] / data_b, t["steps"] * t["batch"] / data_t
    if ema and not math.isclose(epochs_b, epochs_t, rel_tol=1e-9):
        case.notes.append(
            f"the epochs change ({epochs_b:.3g} → {epochs_t:.3g} passes over the data): τ_epoch "
            "is kept, but Wang & Aitchison hold it at a fixed number of epochs, and in the "
            "book's data-limited sweep λ* rose with the epochs (horizon page)"
        )
    values = []
    for kind in decays:
        rule = table[kind]
        width = case.ratio(rule.factor("wd"))
        moves: tuple[Move, ...] = (
            Move(f"{table.scheme} width/depth", "derived", width, rule.why["wd"]),
        )
        if ema:
            law = ema.laws["weight_decay"]
            at_b = {B: b["batch"], D: data_b, ETA: 1.0}
            at_t = {B: t["batch"], D: data_t, ETA: lr_other}
            factor = float(law.subs(at_t) / law.subs(at_b))
            why = ema.why["weight_decay"] + (
                f"; τ_epoch kept at the base's (data {data_b:.3g} → {data_t:.3g} samples"
                + (
                    f", η × {lr_other:.4g} from the batch/horizon rules)"
                    if case.convention == "coupled"
                    else ")"
                )
            )
            moves += (Move("ema-timescale", "derived", factor, why),)
        wd = b["weight_decay"]
        values.append(
            Value("weight_decay", kind, wd, wd * math.prod(m.factor for m in moves), moves)
        )
    return values


def _warmup_value(b: Mapping[str, Any], t: Mapping[str, Any]) -> Value:
    """The warmup, kept the same fraction of the horizon (a convention)."""
    warm_factor = t["steps"] / b["steps"]
    why = (
        "kept the same fraction of the horizon (the schedule's shape fixed across "
        "horizons); a convention, not derived"
    )
    moves = (Move("horizon fraction", "convention", warm_factor, why),)
    return Value("warmup", None, b["warmup"], float(round(b["warmup"] * warm_factor)), moves)


def _schedule(b: Mapping[str, Any], t: Mapping[str, Any], warmup: int) -> dict[str, Any]:
    """Warmup-stable-decay: warmup, a constant phase, a linear decay to 0 (MiniCPM)."""
    decay_steps = max(1, round(b["decay_fraction"] * t["steps"]))
    return {
        "type": "warmup-stable-decay",
        "steps": int(t["steps"]),
        "warmup": warmup,
        "decay_start": int(t["steps"]) - decay_steps,
        "decay_steps": decay_steps,
        "decay_to": 0.0,
        "why": (
            f"warmup, a constant stable phase, then a linear decay to zero over the last "
            f"{b['decay_fraction']:.0%} (MiniCPM, arXiv 2404.06395; linear to zero: Straight to "
            "Zero, arXiv 2502.15938)"
        ),
    }
