"""Depth coordinate checks: slopes against log L of what each layer does, predicted by the engine.

Models with L residual blocks (the pre-LN residual MLP on sklearn digits, the GPT on the pydoc
text) are trained a few steps at depths L = 2..32 under each scheme's rules; on a fixed probe
batch we record, per probed layer (the embedding, the first / middle / last block's layers, the
readout and the residual stream after the last block, as CompleteP Fig. 7 logs it): the RMS of
its output, of its output's change since init ("delta") and of its effective weight update.  The
per-seed slopes of log(quantity) against log L are compared with

- the **asymptotic** prediction (engine/depth.py: stream init ``L^max(0, 1/2 - alpha)``, block
  step ``L^-k_L``, stream change ``L^max(0, beta - alpha - k_L)``; a pre-LN layer's input change
  is the stream's change divided by the stream's size), and
- the **finite-depth** prediction of the stream: the embedding's depth-free part plus the blocks'
  part, each sized at the smallest depth and carried by its engine exponent, added at the angle
  measured at each depth (finite_width.blended_slope, the width check's method, in L).  The
  blocks' exponent uses the measured depth alignment beta (``rms(sum_l d_l) / sqrt(sum_l
  rms(d_l)^2) ~ L^(beta - 1/2)`` over the blocks' changes d_l), as the width check uses
  measured alignment.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

import abcparam

from ..atomic import write_text
from ..engine.depth import IN_BRANCH_KINDS, growth
from ..engine.exponents import HIDDEN
from ..engine.predict import predict_slopes
from ..engine.rules_table import Rules
from ..records import load_json, save_json
from ..torch import discover_topology, map_parameters
from ..torch.models import GPT, ResidualMLP
from ..transfer import data
from . import schema
from .compare import _versions
from .depth_plot import plot_depth_check
from .finite_width import blended_slope
from .fit import slope_with_error
from .judge import enough_sizes, rule_text, summary_counts, too_few_sizes, within
from .options import CheckOptions
from .result import NULL_REASONS
from .schema import DepthAlignmentFit, DepthFit, DepthRecord

QUANTITIES = ("out", "delta", "update")
MODELS = ("mlp", "transformer")
#: "none" in a scheme list: mup without any depth rule (branch 1, depth-free LR)
NO_DEPTH = "mup"


@dataclass(frozen=True)
class DepthCheckConfig:
    """What a depth coordinate check runs (saved beside its results)."""

    model: str = "mlp"
    schemes: tuple[str, ...] = ("mup", "depth-mup", "completep")
    optimizer: str = "adam"
    depths: tuple[int, ...] = (2, 4, 8, 16, 32)
    widths: tuple[int, ...] = (128,)
    steps: int = 3
    seeds: int = 3
    lr: float = 1e-4
    base_depth: int | None = None
    base_width: int | None = None
    batch: int = 64
    depth_alignment: str = "coherent"
    tolerance: float = 0.15

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; accepted: {', '.join(MODELS)}")
        if len(self.depths) < 2 or min(self.depths) < 1:
            raise ValueError(f"depths = {self.depths}: need at least two depths >= 1")
        for name in ("steps", "seeds", "batch"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} = {getattr(self, name)}: need a positive integer")
        if not self.lr > 0:
            raise ValueError(f"lr = {self.lr}: need a positive learning rate")

    @property
    def depth0(self) -> int:
        return self.base_depth or min(self.depths)

    @property
    def width0(self) -> int:
        return self.base_width or min(self.widths)


def rules_for(scheme: str, optimizer: str, depth_alignment: str = "coherent"):
    """The engine's rules of a depth-check scheme: depth-mup / completep carry depth; any other
    scheme name is taken as it is (no depth rule: branch 1, depth-free LR)."""
    return abcparam.rules(scheme, optimizer=optimizer, depth_alignment=depth_alignment)


def _build(config: DepthCheckConfig, width: int, depth: int, vocab: int) -> ResidualMLP | GPT:
    if config.model == "mlp":
        return ResidualMLP(width, depth=depth, in_dim=64, out_dim=10)
    return GPT(width, n_layers=depth, n_heads=4, vocab=vocab, context=32)


def _data(config: DepthCheckConfig, seed: int):
    """A fixed real batch: sklearn digits (MLP) or pydoc-text windows (GPT)."""
    return _batch(config.model, config.batch, seed)


def depth_factory(model: str) -> Callable[[int, int], nn.Module]:
    """The built-in residual model ``model`` (mlp or transformer) as a factory (width, depth) ->
    model, for ``check(..., vary="depth")`` (the GPT's vocabulary: the pydoc text's)."""
    config = DepthCheckConfig(model=model)
    return functools.partial(_build, config, vocab=_data(config, 0)[2])


def depth_batch(model: str, batch: int = 64) -> Callable[[int], tuple]:
    """The depth check's fixed real batch, seed -> (inputs, targets): ``batch`` sklearn digits
    (mlp) or ``batch // 8`` pydoc-text windows of 32 tokens (transformer)."""
    config = DepthCheckConfig(model=model, batch=batch)
    return lambda seed: _data(config, seed)[:2]


@functools.lru_cache(maxsize=16)
def _batch(model: str, batch: int, seed: int):
    if model == "mlp":
        split = data.digits(seed)
        return split.x_train[:batch], split.y_train[:batch], 10
    train_ids, _, vocab = data.pydoc_text()
    g = torch.Generator().manual_seed(seed)
    x, y = data.lm_batch(train_ids, max(batch // 8, 1), 32, g)
    return x, y, len(vocab)


def probes(model: ResidualMLP | GPT) -> dict[str, tuple[str, nn.Module]]:
    """Probed layer -> (module name, module), by relative position so names agree across depths."""
    modules = dict(model.named_modules())
    n = len(model.blocks)
    picks = {"first": 0, "mid": n // 2, "last": n - 1}
    inner = ("fc1", "fc2") if hasattr(model.blocks[0], "fc1") else ("attn.o", "mlp.fc2")
    out: dict[str, tuple[str, nn.Module]] = {"embedding": ("embedding", model.embedding)}
    for where, i in picks.items():
        for part in inner:
            name = f"blocks.{i}.{part}"
            out[f"{where}.{part.split('.')[-1]}"] = (name, modules[name])
    out["readout"] = ("readout", model.readout)
    out["stream"] = (f"blocks.{n - 1}", model.blocks[n - 1])
    return out


# -- predictions -----------------------------------------------------------------------------------
def _depth_params(rules: Rules, optimizer: str) -> tuple[float, float, str]:
    """(alpha, block step exponent k_L, depth alignment name); no depth rule: alpha 0, LR depth-free."""
    alpha, alignment = rules.depth_alpha, rules.depth_alignment
    if alpha is None or alignment is None:
        return 0.0, 0.0, "coherent"
    k_L = abcparam.get_optimizer(optimizer).depth_step(rules[HIDDEN].depth["c"], alpha, 0)
    return float(alpha), float(k_L), alignment.name


def predict(rules: Rules, optimizer: str) -> dict[str, dict[str, float]]:
    """Asymptotic depth slopes of every probed quantity under ``rules`` (engine/depth.py)."""
    alpha, k, align = _depth_params(rules, optimizer)
    g = growth(sympy_exact(alpha), sympy_exact(k), align)
    si, sc = float(g["stream_init"]), float(g["stream_change"])
    propagated = sc - si  # a pre-LN layer sees the stream's change over the stream's size
    out: dict[str, dict[str, float]] = {
        "embedding": {"out": 0.0, "delta": 0.0, "update": 0.0},
        "readout": {"out": 0.0, "delta": max(0.0, propagated), "update": 0.0},
        "stream": {"out": si, "delta": sc},
    }
    for where in ("first", "mid", "last"):
        inp = 0.0 if where == "first" else propagated  # block 0 reads the embedding
        for part in ("fc1", "fc2", "o"):
            out[f"{where}.{part}"] = {"out": 0.0, "delta": max(-k, inp), "update": -k}
    return out


def sympy_exact(value: float):
    """A float exponent (from a rule already applied) back to an exact rational."""
    import sympy

    return sympy.Rational(value).limit_denominator(1000)


def _mean(values) -> float:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def _slopes(recs: Sequence[Any], key: str, over: str = "depth") -> dict[tuple[str, int], tuple]:
    """{(layer, step): (slope, stderr)} of log(key) against log(over), per-seed fits."""
    grouped: dict[tuple, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    for r in recs:
        if r.get(key) is not None:
            grouped[(r["layer"], r["step"])][r["seed"]].append((r[over], r[key]))
    return {k: slope_with_error(v) for k, v in grouped.items()}


def finite_depth(recs: Sequence[Any], depths: Sequence[int], rules: Rules, optimizer: str) -> dict:
    """Measured-alignment, finite-depth predictions {(layer, quantity, step): slope}.

    A probed linear layer's change is ``own + input`` (``m dW x_t`` and ``m W0 dx``): the own
    term carries the engine's update exponent, the input term the measured slope of the layer's
    input change (layer-local, as the width check does); sizes at the smallest depth, angles at
    every depth.  The stream is the embedding (engine: depth-free) plus the blocks' sum, whose
    exponent is ``beta - alpha + e_block``: the engine's alpha, the measured depth alignment beta
    and the middle block's measured change exponent e_block.  Also returns beta per step."""
    alpha, _, _ = _depth_params(rules, optimizer)
    asym = predict(rules, optimizer)
    d0, ds = min(depths), sorted(depths)
    by = defaultdict(list)
    for r in recs:
        by[(r["layer"], r["step"], r["depth"])].append(r)

    def mean(layer, step, depth, key):
        return _mean(r.get(key) for r in by[(layer, step, depth)])

    in_slope = _slopes(recs, "in_delta")
    delta_slope = _slopes(recs, "delta")
    ratio: dict[tuple, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    for r in recs:
        if r["layer"] == "stream parts" and r.get("depth_alignment_ratio"):
            ratio[r["step"]][r["seed"]].append((r["depth"], r["depth_alignment_ratio"]))
    out: dict[Any, float] = {}
    steps = sorted({r["step"] for r in recs if r["step"] > 0})
    for step in steps:
        beta = 0.5 + slope_with_error(ratio[step])[0]
        out[("beta", step)] = beta
        for layer, pred in asym.items():
            if layer in ("embedding", "stream") or (layer, "delta", step) in out:
                continue
            if (layer, step) not in in_slope:
                continue
            out[(layer, "delta", step)] = blended_slope(
                {"own": pred["update"], "inp": in_slope[(layer, step)][0]},
                {"own": mean(layer, step, d0, "own"), "inp": mean(layer, step, d0, "inp")},
                ds,
                {("own", "inp"): [mean(layer, step, d, "cos") for d in ds]},
            )
        block = delta_slope.get(("mid.fc2", step), delta_slope.get(("mid.o", step)))
        e_block = block[0] if block else float("nan")
        parts = "stream parts"
        out[("stream", "delta", step)] = blended_slope(
            {"embedding": 0.0, "blocks": beta - alpha + e_block},
            {
                "embedding": mean(parts, step, d0, "embedding_delta"),
                "blocks": mean(parts, step, d0, "blocks_delta"),
            },
            ds,
            {("embedding", "blocks"): [mean(parts, step, d, "cos_delta") for d in ds]},
        )
    for step in [0, *steps]:  # the stream's size stays near its init (linear regime)
        # at init the L branches are independent: blocks' sum ~ L^(1/2 - alpha)
        out[("stream", "out", step)] = blended_slope(
            {"embedding": 0.0, "blocks": 0.5 - alpha},
            {
                "embedding": mean(parts, 0, d0, "embedding_out"),
                "blocks": mean(parts, 0, d0, "blocks_out"),
            },
            ds,
            {("embedding", "blocks"): [mean(parts, 0, d, "cos_out") for d in ds]},
        )
    return out


# -- running, fitting, judging ---------------------------------------------------------------------
@dataclass
class DepthCheckResult:
    """Records (schema.DepthRecord), depth slopes and, on the joint grid, width slopes
    (schema.DepthFit), and the depth alignment beta per (scheme, width, step) (``stream``:
    {scheme, width, step, beta})."""

    config: DepthCheckConfig
    records: list[DepthRecord] = field(default_factory=list)
    fits: list[DepthFit] = field(default_factory=list)
    stream: list[dict] = field(default_factory=list)
    width_fits: list[DepthFit] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        judged = [f.legacy() for f in self.fits if f.judged]
        wjudged = [f.legacy() for f in self.width_fits if f.judged]
        tol = self.config.tolerance
        depth = summary_counts([(f["pass"], f["err"]) for f in judged], tol)
        width = summary_counts([(f["pass"], f["err"]) for f in wjudged], tol)
        configurations = len(self.config.schemes) * len(self.config.widths)
        return {
            "rule": rule_text(tol),
            "depth_fits": len(judged),
            "depth_passed": sum(f["pass"] for f in judged),
            "depth_preset_passed": sum(bool(f["preset_pass"]) for f in judged),
            "depth_unresolved": depth["unresolved"],
            "depth_configurations": configurations,
            "depth_not_judged": None
            if enough_sizes(self.config.depths)
            else too_few_sizes(self.config.depths, "depths"),
            "width_fits": len(wjudged),
            "width_passed": sum(f["pass"] for f in wjudged),
            "width_unresolved": width["unresolved"],
            "width_configurations": len(self.config.schemes) * len(self.config.depths)
            if len(self.config.widths) > 1
            else 0,
            "width_not_judged": None
            if len(self.config.widths) < 2 or enough_sizes(self.config.widths)
            else too_few_sizes(self.config.widths, "widths"),
            "width_reported": len(self.width_fits),
            "misses": [
                f"{f['scheme']} w{f['width']} {f['layer']} {f['quantity']} step {f['step']}: "
                f"measured {f['slope']:+.2f}"
                + (f" ± {f['err']:.2f}" if self.config.seeds > 1 else "")
                + f", predicted {f['predicted']:+.2f}"
                + ("" if f["finite"] is None else f", finite-depth {f['finite']:+.2f}")
                for f in judged
                if not f["pass"]
            ],
            "preset_misses": [
                f"{f['scheme']} w{f['width']} {f['layer']} {f['quantity']} step {f['step']}: "
                f"measured {f['slope']:+.2f}, asymptotic {f['predicted']:+.2f}"
                + ("" if f["finite"] is None else f", finite-depth {f['finite']:+.2f}")
                for f in judged
                if f["preset_pass"] is False
            ],
        }

    def table(self, step: int | None = None) -> str:
        step = self.config.steps if step is None else step
        spread = self.config.seeds > 1  # a stderr across seeds needs two
        rows = [
            f"| scheme | width | layer | quantity | slope vs log L"
            f"{' ± stderr' if spread else ' (1 seed: no spread)'} | predicted | finite-L | ok |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for f in map(DepthFit.legacy, self.fits):
            if f["step"] != step:
                continue
            fin = f.get("finite")
            err = f" ± {f['err']:.2f}" if spread else ""
            rows.append(
                f"| {f['scheme']} | {f['width']} | {f['layer']} | {f['quantity']} | "
                f"{f['slope']:+.2f}{err} | "
                f"{f['predicted']:+.2f} | "
                f"{'' if fin is None else f'{fin:+.2f}'} | {'yes' if f['pass'] else 'NO'} |"
            )
        return "\n".join(rows)


def run_depth_check(config: DepthCheckConfig, progress: bool = True) -> DepthCheckResult:
    """Train every (scheme, width, depth, seed), fit depth slopes (and width slopes when several
    widths are given: the joint grid), and judge them against the engine's predictions."""
    # import cycle: depth_axis imports this module's probes, config, judge and save
    from .depth_axis import depth_records

    torch.set_num_threads(1)
    result = DepthCheckResult(config)
    options = CheckOptions(
        vary="depth",
        widths=config.widths,
        depths=config.depths,
        steps=config.steps,
        seeds=config.seeds,
        lr=config.lr,
        base_width=config.base_width,
        base_depth=config.base_depth,
        tolerance=config.tolerance,
    )
    factory = depth_factory(config.model)
    for scheme in config.schemes:
        rules = rules_for(scheme, config.optimizer, config.depth_alignment)
        result.records += depth_records(
            factory,
            rules,
            depth_batch(config.model, config.batch),
            options,
            scheme=scheme,
            progress=progress,
        )
    judge(result)
    return result


def judge(result: DepthCheckResult) -> None:
    """Fill ``result.fits`` (depth slopes) and ``result.width_fits`` (joint grid) from records."""
    config = result.config
    result.fits, result.width_fits, result.stream = [], [], []
    for scheme in config.schemes:
        rules = rules_for(scheme, config.optimizer, config.depth_alignment)
        asym = predict(rules, config.optimizer)
        for width in config.widths:
            recs = [r for r in result.records if r["scheme"] == scheme and r["width"] == width]
            finite = finite_depth(recs, config.depths, rules, config.optimizer)
            for key, value in finite.items():
                if key[0] == "beta":
                    result.stream.append(
                        {"scheme": scheme, "width": width, "step": key[1], "beta": value}
                    )
            _fit(result.fits, recs, asym, finite, scheme, width, "depth", config)
        if len(config.widths) > 1:
            wpred = _width_predictions(rules, config)
            for depth in config.depths:
                recs = [r for r in result.records if r["scheme"] == scheme and r["depth"] == depth]
                finite = finite_width_out(recs, wpred, config.widths)
                _fit(result.width_fits, recs, wpred, finite, scheme, depth, "width", config)


def _fit(out, recs, asym, finite, scheme, fixed, over, config) -> None:
    """One entry per (layer, quantity, step): measured slope against log(over), the preset
    (asymptotic) prediction and, where available, the measured-alignment finite prediction;
    ``pass`` is judged on the latter when it exists, ``preset_pass`` on the former, both by the
    one rule of judge.py (None: not judged, e.g. fewer than three depths or widths)."""
    sizes = config.depths if over == "depth" else config.widths
    for q in QUANTITIES:
        for (layer, step), (slope, err) in sorted(_slopes(recs, q, over).items()):
            if layer == "stream parts":
                continue
            predicted = asym.get(layer, {}).get(q)
            fin = finite.get((layer, q, step))
            fin = fin if fin is not None and math.isfinite(fin) else None
            seen = {
                r[over]
                for r in recs
                if r["layer"] == layer and r["step"] == step and r.get(q) is not None
            }

            def ok(target, slope=slope, seen=seen):
                if target is None or not math.isfinite(slope):
                    return None
                if not (enough_sizes(sizes) and enough_sizes(seen)):
                    return None
                return within(slope, target, config.tolerance)

            row = {
                "scheme": scheme,
                ("width" if over == "depth" else "depth"): fixed,
                "layer": layer,
                "quantity": q,
                "step": step,
                "slope": slope,
                "err": err,
                "predicted": predicted,
                "finite": fin,
                "pass": ok(fin if fin is not None else predicted),
                "preset_pass": ok(predicted),
            }
            out.append(DepthFit.from_legacy(row, axis=over))


def _width_predictions(rules: Rules, config) -> dict[str, dict[str, float]]:
    """Width slopes of the probed layers from the engine (predict_slopes on the model's graph,
    discovered from one forward pass; the GPT's includes its positional table)."""
    vocab = 10 if config.model == "mlp" else 65
    model = _build(config, 8, 3, vocab)
    example = (
        torch.zeros(2, 64) if config.model == "mlp" else torch.zeros(1, 4, dtype=torch.long)
    )  # the graph does not depend on the values; the built-in layers state their kinds
    graph = discover_topology(model, example, map_parameters(model))
    by_name = dict(zip(graph.names, predict_slopes(rules, graph, config.steps)))
    out: dict[str, dict[str, float]] = {}
    for label, (name, _) in probes(model).items():
        if label == "stream":
            out[label] = {"out": 0.0, "delta": float(-min(rules[k].r for k in IN_BRANCH_KINDS))}
            continue
        p = by_name.get(name)
        if p is not None:
            out[label] = {
                q: float(p[k])
                for q, k in (
                    ("out", "output"),
                    ("delta", "delta"),
                    ("update", "update"),
                    ("init", "init"),
                )
            }
    return out


def finite_width_out(recs: Sequence[Any], wpred: dict, widths: Sequence[int]) -> dict:
    """Width slopes of each layer's output at finite width: at init the engine's init exponent;
    after updates the init output (init exponent) plus the change (exponent -r) blended at the
    angle the records imply, cos = (out^2 - out0^2 - delta^2) / (2 out0 delta), sizes at the
    smallest width (finite_width.blended_slope).  With a small LR the init part of a muP readout
    (n^-1/2) still dominates its Theta(1) change at these widths."""
    by = defaultdict(list)
    for r in recs:
        by[(r["layer"], r["step"], r["width"])].append(r)
    w0, ws = min(widths), sorted(widths)
    out: dict[tuple, float] = {}
    steps = sorted({r["step"] for r in recs})
    for layer, pred in wpred.items():
        if "init" not in pred:
            continue
        for step in steps:
            if step == 0:
                out[(layer, "out", 0)] = pred["init"]
                continue
            cos = []
            for w in ws:
                o = _mean(r["out"] for r in by[(layer, step, w)])
                o0 = _mean(r["out"] for r in by[(layer, 0, w)])
                d = _mean(r.get("delta") for r in by[(layer, step, w)])
                cos.append((o**2 - o0**2 - d**2) / (2 * o0 * d) if o0 * d > 0 else float("nan"))
            out[(layer, "out", step)] = blended_slope(
                {"init": pred["init"], "delta": pred["delta"]},
                {
                    "init": _mean(r["out"] for r in by[(layer, 0, w0)]),
                    "delta": _mean(r.get("delta") for r in by[(layer, step, w0)]),
                },
                ws,
                {("init", "delta"): cos},
            )
    return out


def load(path) -> DepthCheckResult:
    """A saved depth check (results.json of the one schema, or a depth file written before it),
    re-judged from its records with the current code."""
    data = load_json(path)
    config: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in data["config"].items()
    }
    if data.get("axis") == "depth":
        records = schema.load(data)["records"]
    else:  # written before the one schema: {config, summary, fits, width_fits, stream, records}
        records = [schema.depth_record(row) for row in data["records"]]
    result = DepthCheckResult(DepthCheckConfig(**config), records=records)
    judge(result)
    return result


def to_dict(result: DepthCheckResult) -> dict[str, Any]:
    """results.json's payload (schema.py, ``axis`` depth): the depth and width slopes in
    ``fits``, beta in ``alignment_fits``, the asymptotic misses in ``flags``; not strict."""
    summary = result.summary()
    return {
        "axis": "depth",
        "config": asdict(result.config),
        "versions": _versions(),
        "fits": [f.to_json(False) for f in [*result.fits, *result.width_fits]],
        "alignment_fits": [
            DepthAlignmentFit(
                "stream", "beta", s["step"], s["beta"], None, s["scheme"], s["width"]
            ).to_json(False)
            for s in result.stream
        ],
        "flags": list(summary["preset_misses"]),
        "nonfinite": [],
        "records": [r.compact() for r in result.records],
        "summary": summary,
    }


def save(result: DepthCheckResult, out, command: str | None = None, started: float | None = None):
    """results.json (schema.py's one schema, ``axis`` depth; records included), summary.md and a
    plot, through abcparam.records.save_json (strict JSON + provenance)."""
    import json
    from pathlib import Path

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = save_json(
        out / "results.json", to_dict(result), command=command, started=started, why=NULL_REASONS
    )
    schema.validate(json.loads(path.read_text()))
    write_text(out / "summary.md", result.table() + "\n")

    plot_depth_check(result.records, out / "depth_check.png", result.config)
    return path
