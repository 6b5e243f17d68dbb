"""Compare a coordinate check's records with the engine: fit log-log slopes (fit.py) and
predict them from the same rules twice (abcparam.predict): under the named alignment ("preset"),
propagated through the whole network, and layer by layer under the alignment, the input change
and the input scale measured in the same runs (a local test of each layer's exponents); there a
layer's change is the blend of its three terms over the measured widths (finite_width.py), the
asymptotic maximum being kept as ``predicted_slope_asymptotic``.  A layer passes when the
measured-alignment prediction is within ``tolerance``; preset misses are flagged with the
assumption that failed (Everett et al. 2024, Sec. 3)."""

from __future__ import annotations

import math
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import abcparam
from abcparam.engine.alignment import HALF
from abcparam.engine.exponents import fmt
from abcparam.engine.predict import predict_slopes
from abcparam.engine.rules_table import Rules

from .finite_width import blended_slope
from .fit import fit_slopes
from .judge import MIN_SIZES, enough_sizes, too_few_sizes, within
from .record import PAIRS
from .result import CoordCheckConfig, CoordCheckResult
from .schema import ALIGN, QUANTITIES, AlignmentFit, Fit, NonFinite, Record


@dataclass
class _Measured:
    """What one check measured, read by every prediction and fit of :func:`compare`."""

    config: CoordCheckConfig
    rules: Rules
    rows: list[Record]
    slopes: dict
    align_fits: dict
    graph: dict
    sizes: dict
    cells: dict
    input_scale: list

    @property
    def chain(self) -> list[tuple[str, str]]:
        return list(zip(self.graph["names"], self.graph["kinds"]))

    @property
    def kinds(self) -> list[str]:
        return list(self.graph["kinds"])

    @property
    def parents(self) -> list[list[int]]:
        return [list(p) for p in self.graph["parents"]]


def compare(
    config: CoordCheckConfig,
    rules: Rules,
    records: Sequence[Record | dict],
    nonfinite: Sequence[NonFinite | dict],
    topology: Any = None,
) -> CoordCheckResult:
    """Fit slopes and alignment exponents; predict under preset and measured alignment.

    ``topology``: the model's graph (``abcparam.torch.Topology``, or a mapping with ``names``,
    ``kinds``, ``parents``) that the predictions propagate through; by default the one saved in
    ``config`` by an earlier check."""
    rows = [r if isinstance(r, Record) else Record.from_json(r) for r in records]
    misses = [n if isinstance(n, NonFinite) else NonFinite.from_json(n) for n in nonfinite]
    m = _measure(config, rules, rows, _graph(config, topology))
    fits: list[Fit] = []
    flags: list[str] = []
    if not enough_sizes(config.widths):
        flags.append(too_few_sizes(config.widths))
    for step in sorted({r.step for r in rows}):
        preset, measured_pred, blended = _predictions(m, step)
        _fits_at(m, step, preset, measured_pred, blended, fits, flags)
    alignment_fits = [
        AlignmentFit(layer=layer, variable=var, step=step, exponent=v, stderr=e)
        for (layer, key, step), (v, e) in sorted(m.align_fits.items())
        for var, k2 in ALIGN.items()
        if k2 == key
    ]
    cfg = config.to_dict()
    cfg["rules"] = rules.to_dict()
    cfg["topology"] = m.graph
    return CoordCheckResult(cfg, fits, alignment_fits, flags, misses, rows, _versions())


def _versions() -> dict:
    return {
        "abcparam": abcparam.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def _measure(config: CoordCheckConfig, rules: Rules, rows: list[Record], graph: dict) -> _Measured:
    """Slopes, alignment fits, widths seen per slope, seeds per cell and each layer's measured
    input scale at init (a stable network has slope 0)."""
    slopes = fit_slopes(rows, QUANTITIES + ("input_delta",))
    align_fits = fit_slopes(
        [r for r in rows if r.fan_in is not None], tuple(ALIGN.values()), x_key="fan_in"
    )
    init_slopes = fit_slopes([r for r in rows if r.step == 0], ("input",))
    input_scale = [
        None if pos == 0 else init_slopes.get((layer, "input", 0), (None,))[0]
        for pos, layer in enumerate(graph["names"])
    ]
    input_scale = [v if v is not None and math.isfinite(v) else None for v in input_scale]
    return _Measured(
        config,
        rules,
        rows,
        slopes,
        align_fits,
        graph,
        _sizes(rows, QUANTITIES),
        _by_cell(rows),
        input_scale,
    )


def _predictions(m: _Measured, step: int) -> tuple[list, list, dict[int, float]]:
    """(preset, measured-alignment, blended change) predictions at ``step``: at step 0 the init
    slopes (the engine's step-1 table holds them), later each layer from its own measured input
    change, input scale and alignment."""
    rules, kinds, parents = m.rules, m.kinds, m.parents
    if step == 0:
        preset = predict_slopes(rules, kinds, step=1, parents=parents)
        measured = predict_slopes(rules, kinds, step=1, parents=parents, input_scale=m.input_scale)
        return preset, measured, {}
    preset = predict_slopes(rules, kinds, step=step, parents=parents)
    measured_alignment: list[dict[str, float | None] | None] = []
    for (layer, _kind), p in zip(m.chain, preset):
        if p["alignment"] is None:
            measured_alignment.append(None)
            continue
        got = _alignment_at(m.align_fits, layer, step)
        measured_alignment.append({k: (v if math.isfinite(v) else None) for k, v in got.items()})
    measured = predict_slopes(
        rules,
        kinds,
        step=step,
        alignment=measured_alignment,
        parents=parents,
        input_r=_input_r(m, step),
        input_scale=m.input_scale,
    )
    blended = _blended_deltas(m.cells, m.chain, measured, step, m.config.widths)
    return preset, measured, blended


def _input_r(m: _Measured, step: int) -> list[float | None]:
    """Each layer's measured input change exponent (minus the slope of its input's change)."""
    out: list[float | None] = []
    for pos, (layer, _) in enumerate(m.chain):
        fit = m.slopes.get((layer, "input_delta", step))
        out.append(None if pos == 0 or fit is None or not math.isfinite(fit[0]) else -fit[0])
    return out


def _fits_at(m: _Measured, step, preset, measured_pred, blended, fits, flags) -> None:
    """Append the fits (and their flags) of every chain layer at ``step``."""
    config, graph = m.config, m.graph
    for pos, (layer, kind) in enumerate(m.chain):
        tied_readout = layer in graph["tied"] and kind == "readout"
        for q in ("output",) if step == 0 else QUANTITIES:
            if (layer, q, step) not in m.slopes:
                continue
            value, err = m.slopes[(layer, q, step)]
            key = "init" if step == 0 else q
            pred_preset = float(preset[pos][key])
            asymptotic = float(measured_pred[pos][key])
            pred = blended.get(pos, asymptotic) if q == "delta" else asymptotic
            al = _alignment_at(m.align_fits, layer, step) if step else {}
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
                judged=len(m.sizes.get((layer, q, step), ()))
                >= min(MIN_SIZES, len(set(config.widths)))
                and not (q == "output" and (step > 0 or tied_readout)),
            )
            fits.append(entry)
            if q == "output" and step == 0 and tied_readout:
                flags.append(_tied_readout_flag(entry, m.rules))
            if entry.judged and not entry.preset_pass:
                flags.append(
                    _explain(entry, preset, m.chain, m.align_fits, step, pos, m.cells, config)
                )


def _alignment_at(align_fits, layer, step):
    values = {}
    for var, key in ALIGN.items():
        slope = align_fits.get((layer, key, step), (float("nan"),))[0]
        values[var] = slope
    return values


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


def _tied_readout_flag(entry: Fit, rules: Rules) -> str:
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
