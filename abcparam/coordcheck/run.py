"""Run a coordinate check: train at several widths, record, fit slopes, compare with the engine.

``run_coord_check`` trains the built-in MLP or GPT for a few steps at each width and seed on a
fixed, seeded data stream, records every chain layer (record.py), fits log-log slopes (fit.py) and
predicts them from the same rules twice (abcparam.predict): under the named alignment ("preset"),
propagated through the whole network, and layer by layer under the alignment, the input change
and the input scale measured in the same runs (a local test of each layer's exponents); there a
layer's change is the blend of its three terms over the measured widths (finite_width.py), the
asymptotic maximum being kept as ``predicted_slope_asymptotic``.  A layer passes when the
measured-alignment prediction is within ``tolerance``; preset misses are flagged with the
assumption that failed.

results.json schema (stable): ``{"config", "versions", "fits": [{"layer", "kind", "quantity",
"step", "measured_slope", "slope_stderr", "predicted_slope", "predicted_slope_preset",
"predicted_slope_asymptotic", "alignment_measured": {"alpha", "omega", "u"}, "pass",
"preset_pass", "asymptotic_pass", "judged"}], "alignment_fits", "flags", "nonfinite", "records", "summary"}``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import platform
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.std import tqdm  # tqdm.auto looks for notebook widgets and warns in the book

import abcparam
from abcparam.engine.alignment import HALF
from abcparam.engine.exponents import fmt
from abcparam.engine.predict import predict_slopes
from abcparam.engine.rules import Rules, rules_for_exponents

from ..interrupt import interrupt_on_sigterm
from ..outfolder import config_hash
from ..records import save_json
from ..torch import build_model, build_optimizer, parametrize
from ..torch.models import MODELS
from . import schema
from .finite_width import blended_slope
from .fit import fit_slopes
from .inputs import PartialRuns, check_arguments, claim_out
from .judge import (
    MIN_SIZES,
    NOT_JUDGED,
    enough_sizes,
    rule_text,
    summary_counts,
    too_few_sizes,
    within,
)
from .record import PAIRS, Recorder, call_model
from .resources import check_resources
from .schema import AlignmentFit, Fit, NonFinite, Record

#: base LR of a check: SGD's step is the raw gradient; every normalised optimizer (the engine's
#: other OPTIMIZERS) takes steps of about the LR itself
DEFAULT_LR = {"sgd": 0.1}
NORMALISED_LR = 1e-2
QUANTITIES = ("output", "delta", "update")
ALIGN = {"alpha": "align_alpha", "omega": "align_omega", "u": "align_u"}


@dataclass
class CoordCheckConfig:
    model: str = "mlp"
    scheme: str = "mup"
    optimizer: str | None = "adam"
    alignment: Any = "full"
    lr_exponents: str = "derived"  # "derived" per-layer c, or "constant": c = 0 everywhere
    widths: Sequence[int] = (128, 256, 512, 1024, 2048)
    steps: int = 3
    seeds: int = 2
    lr: float | None = None
    base_width: int | None = None
    batch: int = 64
    depth: int = 2
    tolerance: float = 0.15
    alignment_measured: bool = True
    fixed_batch: bool = True  # train on the probe batch every step (as mup's check)
    topology: dict | None = None  # {names, kinds, parents} of a checked model (saved with it)
    device: str = "cpu"
    autocast: str | None = None  # "bfloat16": the training forward under torch.autocast

    def to_dict(self) -> dict:
        d = asdict(self)
        d["alignment"] = str(self.alignment)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any]) -> CoordCheckConfig:
        """The config of a saved check (results.json's ``config``); keys that are not fields,
        such as the rules, are left out."""
        names = {f.name for f in fields(cls)}
        config = cls(**{k: v for k, v in saved.items() if k in names})
        config.widths = tuple(config.widths)
        return config


@dataclass
class CoordCheckResult:
    """A coordinate check's outcome; :meth:`to_dict` is results.json (schema.py documents it)."""

    config: dict
    fits: list[Fit]
    alignment_fits: list[AlignmentFit]
    flags: list[str]
    nonfinite: list[NonFinite]
    records: list[Record]
    versions: dict = field(default_factory=dict)

    @property
    def judged(self) -> list[Fit]:
        """The fits the rule judges: none when the check ran fewer than MIN_SIZES widths."""
        return [f for f in self.fits if f.judged] if self.sizes_ok else []

    @property
    def diverged(self) -> bool:
        """Some run produced non-finite values: its slopes mean nothing, so the check fails."""
        return bool(self.nonfinite)

    @property
    def unrecorded(self) -> list[dict]:
        """Layers of the topology the recorder could not measure: {name, kind, why}."""
        return list(self.config.get("unrecorded") or [])

    @property
    def incomplete(self) -> bool:
        """Some hidden layer was not measured: its slopes are unjudged, so no verdict of pass."""
        return any(u.get("kind") == "hidden" and u.get("ran", True) for u in self.unrecorded)

    @property
    def passed(self) -> bool:
        return (
            not self.diverged
            and not self.incomplete
            and self.sizes_ok
            and bool(self.judged)
            and all(f.passed for f in self.judged)
        )

    @property
    def sizes_ok(self) -> bool:
        """Were enough widths measured for the one judging rule (judge.py)?"""
        return enough_sizes(self.config.get("widths", ()))

    def summary(self) -> dict:
        judged = self.judged
        tolerance = self.config.get("tolerance", 0.15)
        counts = summary_counts([(f.passed, f.slope_stderr) for f in judged], tolerance)
        return {
            "fits": counts["fits"],
            "passed": counts["passed"],
            "preset_passed": sum(f.preset_pass for f in judged),
            "asymptotic_passed": sum(f.asymptotic_pass for f in judged),
            "unresolved": counts["unresolved"],
            "reported_only": len(self.fits) - len(judged),
            "nonfinite": len(self.nonfinite),
            "diverged": self.diverged,
            "unrecorded": len(self.unrecorded),
            "sizes": len(set(self.config.get("widths", ()))),
            "rule": rule_text(tolerance),
            "verdict": self.verdict,
        }

    @property
    def verdict(self) -> str:
        """diverged, fail (a judged miss), incomplete (a hidden layer not measured) or pass."""
        if self.diverged:
            return "diverged"
        if not self.sizes_ok:
            return NOT_JUDGED
        if not all(f.passed for f in self.judged):
            return "fail"
        return "incomplete" if self.incomplete else "pass"

    def to_dict(self) -> dict:
        """results.json's payload: strict JSON, validated against schema.py."""
        return schema.to_json(self)

    def table(
        self, quantity: str | None = None, step: int | None = None, misses: bool = False
    ) -> str:
        """Markdown: layer, quantity, step, predicted (preset / measured alignment), measured,
        pass (yes / NO; "reported" for a fit that is shown but not judged).  ``misses``: also
        every judged miss at another step than ``step``."""
        spread = int(self.config.get("seeds", 2)) > 1  # a stderr across seeds needs two
        rows = [
            "| layer | quantity | step | predicted (preset) | predicted (measured α,ω,u) "
            f"| measured{' ± stderr' if spread else ' (1 seed: no spread)'} | pass |",
            "|---|---|---|---|---|---|---|",
        ]
        for f in self.fits:
            shown = (not quantity or f.quantity == quantity) and (step is None or f.step == step)
            if not shown and not (misses and f.judged and not f.passed):
                continue
            rows.append(
                f"| {f['layer']} | {f['quantity']} | {f['step']} | "
                f"{f['predicted_slope_preset']:+.2f} | {f['predicted_slope']:+.2f} | "
                f"{f['measured_slope']:+.2f}"
                + (f" ± {f['slope_stderr']:.2f}" if spread else "")
                + f" | {'reported' if not f.judged else ('yes' if f.passed else 'NO')} |"
            )
        return "\n".join(rows)


def _rules_for(config: CoordCheckConfig) -> Rules:
    assert config.optimizer is not None, "check_arguments resolves the optimizer first"
    rules = abcparam.rules(config.scheme, optimizer=config.optimizer, alignment=config.alignment)
    return rules_for_exponents(rules, config.lr_exponents)


def _build(config: CoordCheckConfig, width: int):
    if config.model == "transformer":
        return build_model("transformer", width, n_layers=config.depth, context=32)
    return build_model(config.model, width, depth=config.depth)


def _batches(config: CoordCheckConfig, seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The fixed, seeded data stream (independent of width), one batch per step as it is needed
    (never all ``steps`` of them at once): Gaussian inputs with random labels for the MLP;
    random token sequences (next-token targets) for the transformer.  With ``fixed_batch``
    (default) only the first batch is used, every step."""
    g = torch.Generator().manual_seed(10_000 + seed)
    for _ in range(config.steps):
        if config.model == "mlp":
            yield (
                torch.randn(config.batch, 32, generator=g),
                torch.randint(0, 10, (config.batch,), generator=g),
            )
        else:
            tokens = torch.randint(0, 65, (max(config.batch // 8, 1), 33), generator=g)
            yield tokens[:, :-1], tokens[:, 1:]


def _loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))


def _train_one(config, rules, width, seed, lr, records, nonfinite, graph=None):
    """Train one model; each step's forward on the probe batch doubles as the measurement of the
    previous step's weights (mup's fixed-data convention), so recording costs no extra forward
    but the last one."""
    torch.manual_seed(seed)
    model = _build(config, width)
    spec = parametrize(model, rules, base_width=config.base_width, seed=seed)
    model.to(config.device)
    opt = build_optimizer(model, spec, lr=lr)
    stream = ((x.to(config.device), y.to(config.device)) for x, y in _batches(config, seed))
    first = next(stream)
    if config.fixed_batch:  # the first batch every step: the rest is never drawn
        batches: Iterable = itertools.repeat(first, config.steps)
    else:
        batches = itertools.chain([first], stream)
    if graph is None:  # the network's graph, discovered once from one forward pass
        from ..torch import discover_topology

        graph = discover_topology(model, first[0], spec)
    recorder = Recorder(
        model, graph.chain(), alignment=config.alignment_measured, width=width, seed=seed
    )
    loss = _loss
    if config.autocast:
        dtype = getattr(torch, config.autocast)

        def loss(logits, target):  # the forward ran under autocast; the loss in float32
            return _loss(logits.float(), target)

        model.forward = _autocast(model.forward, config.device, dtype)
    train(model, opt, loss, batches, recorder, records, nonfinite, fixed_batch=config.fixed_batch)
    return graph


def _autocast(forward, device: str, dtype):
    """``forward`` run under ``torch.autocast`` (mixed precision: matmuls in ``dtype``)."""

    def run(*args, **kwargs):
        with torch.autocast(torch.device(device).type, dtype=dtype):
            return forward(*args, **kwargs)

    return run


def train(model, opt, loss_fn, batches, recorder, records, nonfinite, fixed_batch=True) -> None:
    """One optimizer step per batch with ``recorder`` measuring the states after 0, 1, ...
    updates on the probe batch (the first); a non-finite value stops the run, earlier records
    kept.  ``batches``: (inputs, targets) pairs, a list or an iterator drawn one step at a time;
    inputs a tensor, a tuple of positional arguments or a dict of keyword arguments."""
    tag = {"width": recorder.width, "seed": recorder.seed}

    def keep(measured) -> bool:
        bad = [
            (r.layer, q)
            for r in measured
            for q in QUANTITIES + tuple(ALIGN.values())
            if getattr(r, q) is not None and not math.isfinite(getattr(r, q))
        ]
        records.extend(measured)
        nonfinite.extend(
            NonFinite(**tag, step=measured[0].step, layer=layer, quantity=q) for layer, q in bad
        )
        return not bad

    batches = iter(batches)
    first = next(batches)
    probe = first[0]
    step = 0
    for step, (x, y) in enumerate(itertools.chain([first], batches), start=1):
        if fixed_batch:
            x, y = first
        with recorder.capture() if fixed_batch or step == 1 else contextlib.nullcontext():
            loss = loss_fn(call_model(model, x), y)
        if step == 1:
            if not keep(recorder.start()):
                return
        elif fixed_batch and not keep(recorder.measure(step=step - 1)):
            return
        if not torch.isfinite(loss):
            nonfinite.append(NonFinite(**tag, step=step, layer="loss", quantity="loss"))
            return
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if not fixed_batch and not keep(recorder.measure(probe, step=step)):
            return
    if fixed_batch:
        keep(recorder.measure(probe, step=step))


def _alignment_at(align_fits, layer, step):
    values = {}
    for var, key in ALIGN.items():
        slope = align_fits.get((layer, key, step), (float("nan"),))[0]
        values[var] = slope
    return values


def run_coord_check(
    model: str = "mlp",
    scheme: str = "mup",
    optimizer: str | None = None,
    alignment: Any = "full",
    lr_exponents: str = "derived",
    widths: Sequence[int] = (128, 256, 512, 1024, 2048),
    steps: int = 3,
    seeds: int = 2,
    lr: float | None = None,
    base_width: int | None = None,
    batch: int = 64,
    depth: int = 2,
    tolerance: float = 0.15,
    out: str | Path | None = None,
    rules=None,
    progress: bool = True,
    alignment_measured: bool = True,
    fixed_batch: bool = True,
    device: str = "cpu",
    autocast: str | None = None,
    overwrite: bool = False,
) -> CoordCheckResult:
    """Train, record, fit and compare; write results.json and plots to ``out`` if given.

    ``rules`` overrides the scheme's derived rules (e.g. a deliberately wrong table); the
    optimizer defaults to the rules' (else Adam) and must match them.  ``device`` where to train;
    ``autocast="bfloat16"`` runs the forward in mixed precision.  Every argument is checked
    before training; with ``out``, each finished (width, seed) run is saved at once
    (``partial.json``), and what was measured is kept if the comparison fails; rerunning the
    same configuration resumes from it; ``out`` holding another configuration's results is
    refused unless ``overwrite``, and a second process writing into it is refused (a lock)."""
    started = time.time()
    config = CoordCheckConfig(
        model,
        scheme,
        optimizer,
        alignment,
        lr_exponents,
        widths,
        steps,
        seeds,
        lr,
        base_width,
        batch,
        depth,
        tolerance,
        alignment_measured,
        fixed_batch,
        device=device,
        autocast=autocast,
    )
    if autocast not in (None, "bfloat16", "float16"):
        raise ValueError(f"autocast = {autocast!r}; accepted: None, bfloat16, float16")
    rules = check_arguments(config, rules, out, MODELS)  # everything, before any training
    config.base_width = config.base_width or min(config.widths)
    rules = rules if rules is not None else _rules_for(config)
    config.lr = (
        config.lr if config.lr is not None else DEFAULT_LR.get(rules.optimizer, NORMALISED_LR)
    )
    check_resources(lambda width: _build(config, width), config.widths, config.steps, device)
    key = config_hash({**config.to_dict(), "rules": rules.to_dict()})
    with claim_out(out, key, overwrite):
        return _run(config, rules, out, key, started, progress)


def _run(config, rules, out, key: str, started: float, progress: bool) -> CoordCheckResult:
    """Train every (width, seed) run not yet in ``out/partial.json``, saving each at once."""
    partial = PartialRuns(out, config, key, started)
    runs = [(w, s) for w in config.widths for s in range(config.seeds)]
    graph = None
    todo = [run for run in runs if not partial.finished(*run)]
    desc = f"coord-check {config.scheme}/{rules.optimizer}"
    with interrupt_on_sigterm():  # SIGTERM as Ctrl-C: the finished runs stay in partial.json
        for width, seed in tqdm(todo, desc=desc, disable=not progress):
            graph = _train_one(
                config, rules, width, seed, config.lr, partial.records, partial.nonfinite, graph
            )
            partial.add(width, seed)  # nothing lost: every finished run is on disk
    if graph is None:  # every run was resumed: the graph from one forward pass, no training
        graph = _topology(config, rules)
    try:
        result = compare(config, rules, partial.records, partial.nonfinite, topology=graph)
    except Exception as err:
        partial.save(error=f"{type(err).__name__}: {err}")
        raise
    if out is not None:
        save(result, out, started=started, config_hash=key)
        partial.finish()  # results.json holds all of it
    return result


def _topology(config: CoordCheckConfig, rules):
    """The built-in model's graph at the base width (one forward pass, no training)."""
    from ..torch import discover_topology

    assert config.base_width is not None, "run_coord_check resolves the base width first"
    torch.manual_seed(0)
    model = _build(config, config.base_width)
    spec = parametrize(model, rules, base_width=config.base_width, seed=0)
    x, _ = next(_batches(config, 0))
    return discover_topology(model, x, spec)


def compare(
    config: CoordCheckConfig,
    rules,
    records: Sequence[Record | dict],
    nonfinite: Sequence[NonFinite | dict],
    topology: Any = None,
) -> CoordCheckResult:
    """Fit slopes and alignment exponents; predict under preset and measured alignment.

    ``topology``: the model's graph (``abcparam.torch.Topology``, or a mapping with ``names``,
    ``kinds``, ``parents``) that the predictions propagate through; by default the one saved in
    ``config`` by an earlier check, else the built-in model's."""
    rows = [r if isinstance(r, Record) else Record.from_json(r) for r in records]
    misses = [n if isinstance(n, NonFinite) else NonFinite.from_json(n) for n in nonfinite]
    slopes = fit_slopes(rows, QUANTITIES + ("input_delta",))
    align_fits = fit_slopes(
        [r for r in rows if r.fan_in is not None], tuple(ALIGN.values()), x_key="fan_in"
    )
    graph = _graph(config, topology)
    chain_layers = list(zip(graph["names"], graph["kinds"]))
    kinds = list(graph["kinds"])
    parents = [list(p) for p in graph["parents"]]
    fits, flags = [], []
    steps = sorted({r.step for r in rows})
    sizes = _sizes(rows, QUANTITIES)
    if not enough_sizes(config.widths):
        flags.append(too_few_sizes(config.widths))
    cells = _by_cell(rows)
    # each layer's input scale at init, measured (a stable network has slope 0)
    init_slopes = fit_slopes([r for r in rows if r.step == 0], ("input",))
    input_scale = [
        None if pos == 0 else init_slopes.get((layer, "input", 0), (None,))[0]
        for pos, (layer, _) in enumerate(chain_layers)
    ]
    input_scale = [v if v is not None and math.isfinite(v) else None for v in input_scale]
    for step in steps:
        if step == 0:
            preset = predict_slopes(rules, kinds, step=1, parents=parents)
            measured_pred = predict_slopes(
                rules, kinds, step=1, parents=parents, input_scale=input_scale
            )
            blended = {}
        else:
            preset = predict_slopes(rules, kinds, step=step, parents=parents)
            measured_alignment: list[dict[str, float | None] | None] = []
            for (layer, _kind), p in zip(chain_layers, preset):
                if p["alignment"] is None:
                    measured_alignment.append(None)
                    continue
                got = _alignment_at(align_fits, layer, step)
                measured_alignment.append(
                    {k: (v if math.isfinite(v) else None) for k, v in got.items()}
                )
            # each layer is predicted from its own measured input change and alignment
            input_r = [
                None
                if pos == 0
                else (
                    -slopes[(layer, "input_delta", step)][0]
                    if (layer, "input_delta", step) in slopes
                    and math.isfinite(slopes[(layer, "input_delta", step)][0])
                    else None
                )
                for pos, (layer, _) in enumerate(chain_layers)
            ]
            measured_pred = predict_slopes(
                rules,
                kinds,
                step=step,
                alignment=measured_alignment,
                parents=parents,
                input_r=input_r,
                input_scale=input_scale,
            )
            blended = _blended_deltas(cells, chain_layers, measured_pred, step, config.widths)
        for pos, (layer, kind) in enumerate(chain_layers):
            for q in ("output",) if step == 0 else QUANTITIES:
                if (layer, q, step) not in slopes:
                    continue
                value, err = slopes[(layer, q, step)]
                key = "init" if step == 0 else q
                pred_preset = float(preset[pos][key])
                asymptotic = float(measured_pred[pos][key])
                pred = blended.get(pos, asymptotic) if q == "delta" else asymptotic
                al = _alignment_at(align_fits, layer, step) if step else {}
                entry = Fit(
                    layer=layer,
                    kind=kind,
                    quantity=q,
                    step=step,
                    measured_slope=value,
                    slope_stderr=err,
                    predicted_slope=pred,
                    predicted_slope_preset=pred_preset,
                    predicted_slope_asymptotic=asymptotic,
                    alignment_measured=dict(al) if al else None,
                    passed=within(value, pred, config.tolerance),
                    preset_pass=within(value, pred_preset, config.tolerance),
                    asymptotic_pass=within(value, asymptotic, config.tolerance),
                    # the output after training is init + change, two terms with different
                    # prefactors: its slope over a finite range is pre-asymptotic, so it is
                    # reported, and judged through its parts (output at step 0, delta); so is
                    # a tied readout's output at init (see _tied_readout_flag)
                    # and so is a slope that lost widths (below MIN_SIZES or the check's own)
                    judged=len(sizes.get((layer, q, step), ()))
                    >= min(MIN_SIZES, len(set(config.widths)))
                    and not (
                        q == "output"
                        and (step > 0 or (layer in graph["tied"] and kind == "readout"))
                    ),
                )
                fits.append(entry)
                if q == "output" and step == 0 and layer in graph["tied"] and kind == "readout":
                    flags.append(_tied_readout_flag(entry, rules))
                if entry.judged and not entry.preset_pass:
                    flags.append(
                        _explain(entry, preset, chain_layers, align_fits, step, pos, cells, config)
                    )
    alignment_fits = [
        AlignmentFit(layer=layer, variable=var, step=step, exponent=v, stderr=e)
        for (layer, key, step), (v, e) in sorted(align_fits.items())
        for var, k2 in ALIGN.items()
        if k2 == key
    ]
    versions = {
        "abcparam": abcparam.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    cfg = config.to_dict()
    cfg["rules"] = rules.to_dict()
    cfg["topology"] = graph
    return CoordCheckResult(cfg, fits, alignment_fits, flags, misses, rows, versions)


def _sizes(records: Sequence[Record], quantities: Sequence[str]) -> dict[tuple, set[int]]:
    """{(layer, quantity, step): widths where every seed has a finite positive value}."""
    seen: dict[tuple, dict[int, set[int]]] = {}
    for r in records:
        for q in quantities:
            v = getattr(r, q)
            if v is not None and math.isfinite(v) and v > 0:
                seen.setdefault((r.layer, q, r.step), {}).setdefault(r.width, set()).add(r.seed)
    seeds = {r.seed for r in records}
    return {
        key: {w for w, got in by_width.items() if got == seeds} for key, by_width in seen.items()
    }


def _tied_readout_flag(entry: Fit, rules) -> str:
    """Why a tied readout's output at init is reported, not judged: its input still carries the
    embedding row of each position's own token, so that token's logit is an aligned sum while
    the other logits are CLT sums (experiments/tied_readout.py measures both parts)."""
    s = rules["readout"].a + rules["readout"].b
    return (
        f"{entry.layer}: tied to the embedding, so at init its input still holds each token's own "
        f"embedding row: that token's logit is an aligned sum, slope {fmt(1 - s)}, the others CLT "
        f"sums, slope {fmt(HALF - s)}; over a fixed vocabulary their mix has a slope in between "
        f"(measured {entry.measured_slope:+.2f}), tending to {fmt(1 - s)} once the width passes the "
        f"vocabulary, so it is reported, not judged (the parts are judged by "
        f"experiments/tied_readout.py)"
    )


def _graph(config: CoordCheckConfig, topology: Any) -> dict:
    """{names, kinds, parents} of the network the predictions run on."""
    if topology is None:
        topology = getattr(config, "topology", None)
    if topology is None:
        raise ValueError(
            "compare needs the model's topology: pass topology= (abcparam.torch.Topology or "
            "{names, kinds, parents}), or a config saved by a check"
        )

    def get(key: str) -> Any:
        return topology.get(key) if isinstance(topology, dict) else getattr(topology, key, None)

    return {
        "names": list(get("names")),
        "kinds": list(get("kinds")),
        "parents": [list(p) for p in get("parents")],
        "tied": list(get("tied") or []),
    }


def _blended_deltas(cells, chain_layers, predicted, step, widths) -> dict[int, float]:
    """Per matrix layer: the slope of its change over the measured widths when its three terms
    keep the engine's exponents (under the measured alignment and input), take their sizes from
    the smallest width and add at the angles measured at each width (finite_width.py)."""
    widths = sorted(widths)
    out = {}
    for pos, (layer, _) in enumerate(chain_layers):
        terms = predicted[pos].get("terms")
        if not terms:
            continue
        sizes = {t: _mean_at(cells, layer, step, widths[0], f"term_{t}") for t in terms}
        cosines = {
            pair: [_mean_at(cells, layer, step, w, f"cos_{pair[0]}_{pair[1]}") for w in widths]
            for pair in PAIRS
        }
        slope = blended_slope({t: float(e) for t, e in terms.items()}, sizes, widths, cosines)
        if math.isfinite(slope):
            out[pos] = slope
    return out


#: a term smaller than this share of its layer's change cannot explain a miss
MATTERS = 0.2
TERM_NAMES = {"alpha": "dW·x0", "omega": "W0·dx", "u": "dW·dx"}


def _by_cell(records) -> dict[tuple, list[dict]]:
    """Records grouped by (layer, step, width): the seeds of one measurement."""
    cells: dict[tuple, list[dict]] = {}
    for r in records:
        cells.setdefault((r.layer, r.step, r.width), []).append(r)
    return cells


def _mean_at(cells, layer, step, width, key) -> float:
    values = [getattr(r, key) for r in cells.get((layer, step, width), ())]
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else float("nan")


def _plus_minus(err: float, seeds: int) -> str:
    """`` ± err`` when several seeds give a spread; nothing with one seed (the README's stderr is
    the spread across seeds)."""
    return f" ± {err:.2f}" if seeds > 1 else ""


def _explain(entry, preset, chain_layers, align_fits, step, pos, cells, config) -> str:
    """Name what the measurement contradicts, at the layer or below it: an alignment assumption
    whose term is not negligible (>= 20 % of that layer's change at the largest width), or terms
    that cancel more (or less) as width grows; else a finite-width effect."""
    where = (
        f"{entry['layer']} {entry['quantity']} step {step}: measured "
        f"{entry['measured_slope']:+.2f}{_plus_minus(entry['slope_stderr'], config.seeds)}, "
        f"preset predicts "
        f"{entry['predicted_slope_preset']:+.2f}"
    )
    small, large = min(config.widths), max(config.widths)
    causes = []
    for p in range(pos, 0, -1):
        layer = chain_layers[p][0]
        assumed = preset[p]["alignment"]
        if assumed is None:
            continue
        delta = _mean_at(cells, layer, step, large, "delta")
        share = {
            var: (
                _mean_at(cells, layer, step, large, f"term_{var}") / delta
                if delta > 0
                else float("nan")
            )
            for var in ALIGN
        }
        for var, key in ALIGN.items():
            value, err = align_fits.get((layer, key, step), (float("nan"), float("nan")))
            if (
                math.isfinite(value)
                and abs(value - float(assumed[var])) > 0.15
                and share[var] >= MATTERS
            ):
                causes.append(
                    f"{layer} {var} measured {value:.2f}{_plus_minus(err, config.seeds)}, "
                    f"preset {assumed[var]}"
                )
        # weighted by the pair's share of the change: near-cancelling big terms matter most
        drifts = [
            (abs(hi - lo) * share[first] * share[second], first, second, lo, hi)
            for first, second in PAIRS
            for lo, hi in [
                [_mean_at(cells, layer, step, w, f"cos_{first}_{second}") for w in (small, large)]
            ]
            if min(share[first], share[second]) >= MATTERS and abs(hi - lo) > 0.1
        ]
        if drifts:  # the pair whose way of adding moves the change most
            _, first, second, lo, hi = max(drifts)
            causes.append(
                f"{layer} terms {TERM_NAMES[first]} and {TERM_NAMES[second]} add at "
                f"cosine {lo:+.2f} at width {small}, {hi:+.2f} at {large}"
            )
        if causes:
            break
    because = (
        "; ".join(causes)
        if causes
        else ("no alignment assumption measurably off: finite-width or pre-asymptotic effect")
    )
    return f"{where} ({because})"


#: why a saved value is null (strict JSON has no NaN): pointer glob -> reason
NULL_REASONS = {
    "*/alignment_measured/*": "no alignment fit for this layer at this step (its input change "
    "or weight update was not measured at two or more widths, e.g. the embedding, whose input "
    "never changes)",
    "*slope*": "no slope: fewer than two finite positive values across widths",
}


def save(
    result: CoordCheckResult,
    out: str | Path,
    *,
    command: str | None = None,
    started: float | None = None,
    config_hash: str | None = None,
) -> Path:
    """results.json (strict JSON with a provenance block, see abcparam.records) + plots in ``out``;
    ``config_hash`` identifies the configuration (a rerun of another is refused, outfolder.py)."""
    out = Path(out)
    payload = schema.to_json(result, strict=False)
    if config_hash is not None:  # inside config: results.json's top-level keys stay fixed
        payload["config"] = {**payload["config"], "config_hash": config_hash}
    path = save_json(
        out / "results.json",
        payload,
        command=command,
        started=started,
        why=NULL_REASONS,
    )
    schema.validate(json.loads(path.read_text()))
    from .plot import plot_result

    plot_result(result, out)
    return path
