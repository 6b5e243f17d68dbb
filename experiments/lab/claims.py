"""Recompute every claim of the ledger (experiments/claims.toml) from the saved raw files.

Each function here takes the claim's raw files (paths under experiments/results, globs already
expanded) and its ``args``, and returns named numbers that the claim's ``format`` turns into the
text the README and the book quote.  Plain numpy and json only: a claim is recomputed from the
raw measurements (per-seed log-log slopes refitted from the records where the file keeps them),
not read back from a summary the experiment wrote.
Run: ``python experiments/claims.py`` (every claim, recomputed; exit 1 if one differs).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

Values = dict[str, Any]
QUANTITIES = ("output", "delta", "update")


def _load(path: Path) -> Any:
    return _load_cached(str(path), path.stat().st_mtime_ns)


@cache
def _load_cached(path: str, mtime_ns: int) -> Any:  # several claims read the same files
    return json.loads(Path(path).read_text())


def _slopes_from_records(records: list[dict]) -> dict[tuple[str, str, int], float]:
    """{(layer, quantity, step): mean over seeds of the least-squares slope of log(RMS) against
    log(width)} from a coordinate check's raw records (positive finite values, >= 2 widths)."""
    points: dict[tuple, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    for rec in records:
        for q in QUANTITIES:
            value = rec.get(q)
            if value is not None and value > 0 and np.isfinite(value):
                points[(rec["layer"], q, rec["step"])][rec["seed"]].append((rec["width"], value))
    slopes = {}
    for key, by_seed in points.items():
        per_seed = [
            np.polyfit(np.log([w for w, _ in pts]), np.log([v for _, v in pts]), 1)[0]
            for pts in by_seed.values()
            if len({w for w, _ in pts}) >= 2
        ]
        if per_seed:
            slopes[key] = float(np.mean(per_seed))
    return slopes


def _judged_errors(check: dict, prediction: str, refit: bool) -> list[float]:
    """|measured - predicted| of every judged fit of one check (refitted from records if asked)."""
    slopes = _slopes_from_records(check["records"]) if refit else {}
    errors = []
    for fit in check["fits"]:
        if not fit.get("judged", True) or fit.get(prediction) is None:
            continue
        key = (fit["layer"], fit["quantity"], fit["step"])
        measured = slopes.get(key) if refit else fit.get("measured_slope")
        errors.append(np.inf if measured is None else abs(measured - fit[prediction]))
    return errors


def fits_within(
    paths: Sequence[Path],
    prediction: str = "predicted_slope",
    tolerance: float = 0.15,
    key: str | None = None,
) -> Values:
    """Judged fits whose measured slope is within ``tolerance`` of ``prediction``, over every
    check in ``paths`` (slopes refitted from the records when the file keeps them; ``key``
    picks one check of a file holding several by name, default all of them)."""
    passed = total = 0
    worst = 0.0
    for path in paths:
        data = _load(path)
        if isinstance(data["fits"], dict):  # several checks in one file, by name
            names = list(data["fits"]) if key is None else [key]
            checks = [{"fits": data["fits"][name]} for name in names]
        else:
            checks = [data]
        for check in checks:
            errors = _judged_errors(check, prediction, refit="records" in check)
            passed += sum(e <= tolerance for e in errors)
            total += len(errors)
            worst = max([worst, *[e for e in errors if np.isfinite(e)]])
    return {"passed": passed, "total": total, "worst": worst, "configs": len(paths)}


def run_summary(paths: Sequence[Path], run: str, field: str = "passed") -> Values:
    """One run's fit counts from a summary holding several coordinate checks
    (``runs/<run>/summary``), e.g. the Lion checks on text and on random tokens."""
    (path,) = paths
    summary = _load(path)["runs"][run]["summary"]
    return {"passed": summary[field], "total": summary["fits"]}


def slope_range(paths: Sequence[Path], run: str, series: str) -> Values:
    """Smallest and largest value of a per-step series of one run (e.g. the hidden update's
    width slope at every measured step) and the largest distance from ``target`` -1."""
    (path,) = paths
    values = np.array(
        [v for v in _load(path)["runs"][run][series].values() if v is not None], dtype=float
    )
    return {"low": values.min(), "high": values.max(), "off": np.abs(values + 1).max()}


def wrong_rules_caught(paths: Sequence[Path]) -> Values:
    """Cases of a moved exponent the measured-alignment check caught (a judged fit missed),
    counted from the per-case rows."""
    (path,) = paths
    rows = _load(path)["rows"]
    return {"caught": sum(bool(r["misses"]) for r in rows), "cases": len(rows)}


def table_count(paths: Sequence[Path]) -> Values:
    """How many scheme x optimizer x alignment tables the engine derived."""
    (path,) = paths
    return {"tables": len(_load(path)["tables"])}


def engine_benchmark(paths: Sequence[Path]) -> Values:
    """The engine benchmark's saved timings: derivations counted, best-of-runs CPU time."""
    (path,) = paths
    runs = _load(path)["runs"]
    return {
        "count": runs[0]["count"],
        "cpu_total_s": min(r["cpu_total_s"] for r in runs),
        "repeat_us": min(r["repeat_query_ms"] for r in runs) * 1e3,
        "runs": len(runs),
    }


def batched_benchmark(paths: Sequence[Path], case: str, threads: int | None = None) -> Values:
    """The batched-sweep benchmark refitted from its raw timings: for ``case`` ("transformer
    batch 64"), each path at its fastest thread count (by median; or both at ``threads``), the
    ratio of the medians and the range of the per-repeat ratios; the one-thread ceiling and the
    all-cores ceiling (``two_core_bound``) where the case was profiled; how many of the batched
    row's runs end within 1e-5 of the separate run's final loss, where saved."""
    from experiments.lab.bench_batched_sweep import case_of, cores_bound, fastest

    (path,) = paths
    saved = _load(path)
    rows = [
        r
        for r in saved["benchmarks"]
        if case_of(r) == case and (threads is None or r["threads"] == threads)
    ]
    if not rows:
        raise ValueError(f"no benchmark of {case!r} in {path}")
    sep, bat = fastest(rows)
    per_repeat = [s / b for s, b in zip(sep["separate_s"], bat["batched_s"], strict=True)]
    profiles = saved.get("profiles") or {}
    prof = profiles.get(case) or profiles.get(case.split(" batch ")[0])
    fid = bat.get("fidelity") or {}  # both paths' final losses, saved since the fused step
    return {
        "within": fid.get("within_1e-5"),
        "runs": fid.get("runs"),
        "speedup": statistics.median(sep["separate_s"]) / statistics.median(bat["batched_s"]),
        "low": min(per_repeat),
        "high": max(per_repeat),
        "separate_s": statistics.median(sep["separate_s"]),
        "batched_s": statistics.median(bat["batched_s"]),
        "separate_threads": sep["threads"],
        "batched_threads": bat["threads"],
        "repeats": len(per_repeat),
        "ceiling": None if prof is None else prof["bound_one_thread"],
        "two_core_bound": None
        if prof is None
        else cores_bound(
            prof, statistics.median(sep["separate_s"]), bat["steps"], saved["cpu_count"]
        ),
    }


def mup_crosscheck(paths: Sequence[Path]) -> Values:
    """Largest |width slope| of mup's get_coord_data on the hidden layers, the model
    parametrized by mup and by abcparam."""
    (path,) = paths
    check = _load(path)["mup_crosscheck"]
    slopes = [abs(s) for who in ("abcparam", "mup") for s in check[who].values()]
    return {"max_abs": max(slopes)}


def series_value(paths: Sequence[Path], series: str, step: str, check: str | None = None) -> Values:
    """One step's value of a per-step series a check saved (e.g. the hidden updates' α)."""
    (path,) = paths
    data = _load(path)
    data = data if check is None else data["checks"][check]
    return {"value": data[series][step]}


def tied_logit_slope(paths: Sequence[Path], model: str, part: str) -> Values:
    """Width slope of one part of the readout's logits at init (own token, other tokens, all),
    refitted by least squares from the saved RMS at each width (mean over seeds)."""
    (path,) = paths
    data = _load(path)
    rms = data["models"][model]["rms"][part]
    slope = np.polyfit(np.log(data["widths"]), np.log(rms), 1)[0]
    return {"slope": round(float(slope), 2) + 0.0}  # rounded first: no "-0.00"


# --- horizon ---


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _run_key(row: dict) -> tuple:
    """What names one run across grids run apart: its width, batch, LR and seed."""
    return (row["width"], row["batch"], row["log2_lr"], row["seed"])


def _runs(paths: Sequence[Path]) -> list[dict]:
    """The runs of several JSON-lines files read as one sweep (grids run apart, or a grid and
    the LRs or seeds run later beside it)."""
    return [r for path in paths for r in _jsonl(path)]


def wd_timescale(
    paths: Sequence[Path], quantity: str, base: list | None = None, min_gain: float = 0.0
) -> Values:
    """The weight-decay timescale sweep refitted from its runs: a slope of log2 τ_epoch* or
    log2 λ* (``quantity``) with its interval, ``inside`` (cells whose λ* interval holds the
    calculator's prediction from the ``base`` (batch, horizon) cell, the first by default),
    ``tau_spread`` (largest − smallest log2 τ*), or ``edges`` ((batch, horizon, seed) minima on
    the λ grid's low edge, of all); cells where decay gains under ``min_gain`` nats are left
    out."""
    from abcparam.transfer.timescale_fit import timescale_summary
    from experiments.lab.weight_decay_timescale import calculator_ratio

    (path,) = paths
    summary = timescale_summary(
        _jsonl(path),
        predict=calculator_ratio,
        base=None if base is None else tuple(base),
        min_gain=min_gain,
    )
    cells = summary["cells"]
    if quantity == "inside":
        home = summary["prediction_base"]
        judged = [
            c
            for c in cells
            if c["predicted_inside"] is not None
            and (c["batch"], c["horizon"]) != (home["batch"], home["horizon"])
        ]
        return {"inside": sum(c["predicted_inside"] for c in judged), "total": len(judged)}
    if quantity == "edges":
        low = sum(1 for e in summary["edges"] if e[3] == "low")
        return {"low": low, "total": low + sum(c["seeds"] for c in cells)}
    if quantity == "tau_spread":
        taus = [c["log2_tau_epoch"] for c in cells]
        return {"spread": max(taus) - min(taus), "cells": len(taus)}
    return dict(summary["slopes"][quantity])


def wd_optimum_shift(paths: Sequence[Path], pairs: list, quantity: str) -> Values:
    """How log2 λ* (``quantity`` wd_shift) or log2 τ_epoch* (tau_shift) moves from the first
    decay sweep to the second at the paired (batch, horizon) cells, with its interval; with
    more files, pooled over the couples (sweep a, sweep b) they come in, the same ``pairs`` in
    each."""
    from abcparam.transfer.timescale_fit import pooled_optimum_shift

    if len(paths) % 2:
        raise ValueError(f"{len(paths)} runs files: accepted: (sweep a, sweep b) couples")
    cells = [(tuple(x), tuple(y)) for x, y in pairs]
    couples = [(_jsonl(a), _jsonl(b), cells) for a, b in zip(paths[::2], paths[1::2], strict=True)]
    return dict(pooled_optimum_shift(couples)[quantity])


def wd_width_slope(paths: Sequence[Path], widths: list, cells: list, cell: str = "") -> Values:
    """The slope of log2 λ* in log2 width over decay sweeps at ``widths`` (one runs file each,
    in that order), pooled over ``cells`` or for one ``cell`` ("batch,horizon")."""
    from abcparam.transfer.timescale_fit import width_slope

    sweeps = {int(w): _jsonl(path) for w, path in zip(widths, paths, strict=True)}
    fit = width_slope(sweeps, [(int(b), int(t)) for b, t in cells])
    return dict(fit["per_cell"][cell] if cell else fit["pooled"])


def wd_lr_slope(paths: Sequence[Path], cells: list, cell: str = "") -> Values:
    """The slope of log2 λ* in log2 η at fixed (batch, horizon, data) over decay sweeps at
    three or more LRs per cell (their runs files read as one), pooled over ``cells`` or for one
    ``cell`` ("batch,horizon")."""
    from abcparam.transfer.timescale_fit import lr_slope

    fit = lr_slope(_runs(paths), [(int(b), int(t)) for b, t in cells])
    return dict(fit["per_cell"][cell] if cell else fit["pooled"])


def wd_damage_onset(paths: Sequence[Path], rise: float, key: str) -> Values:
    """Slope of the log2 λ where decay starts to cost ``rise`` nats (``key``: slope_vs_horizon
    or slope_vs_batch), refitted from a weight-decay sweep's runs."""
    from abcparam.transfer.timescale_fit import damage_onsets

    (path,) = paths
    fit = damage_onsets(_jsonl(path), rise)[key]
    return {"slope": fit["slope"], "low": fit["low"], "high": fit["high"]}


def wd_decay_gain(paths: Sequence[Path]) -> Values:
    """The most any λ of a decay sweep lowers a (batch, horizon) cell's seed-mean loss below its
    value at the grid's smallest λ (nats; selection makes it an upper estimate), and the cells."""
    from abcparam.transfer.timescale_fit import loss_by_wd

    (path,) = paths
    cells = loss_by_wd(_jsonl(path))
    gains = [c["loss"][0] - min(c["loss"]) for c in cells]
    return {"gain": max(gains), "cells": len(cells)}


def _only_horizons(rows: list[dict], horizons: str | None) -> list[dict]:
    """The runs cut to the horizons given as "250,500" (all of them when None): grids whose
    runs branched at different horizons compared on the ones they share."""
    if horizons is None:
        return rows
    keep = {t.strip() for t in horizons.split(",")}
    cut = [{**r, "results": {t: v for t, v in r["results"].items() if t in keep}} for r in rows]
    return [r for r in cut if r["results"]]


def horizon_lr_slope(
    paths: Sequence[Path], width: int, batch: int, horizons: str | None = None
) -> Values:
    """Slope of log2 η* against log2 T at one (width, batch), refitted from a grid's runs (one
    file, or a grid and the LRs run later beside its window; only the ``horizons`` given as
    "125,250", when given: two schedules on the same horizons)."""
    from abcparam.transfer.horizon_fit import summarise

    rows = _only_horizons(_runs(paths), horizons)
    fit = summarise(rows)["per_width"][width]["in_horizon"][batch]
    return {"slope": fit["slope"], "low": fit["low"], "high": fit["high"]}


def horizon_rerun_gap(paths: Sequence[Path], first: int = 1) -> Values:
    """A grid run twice (the second with a longer last horizon; either copy whole or one LR per
    file): over every (width, batch, LR, seed, horizon) both copies hold, the largest |difference|
    of the final validation loss, how many pairs it covers, and the second-largest gap. The seeded
    runs repeat up to floating-point rounding, so gaps stay near 0 unless one copy's loss spiked and
    the other's did not: a largest gap far above the second flags that one pair. ``paths``: the
    grid's ``first`` files, then its rerun's."""
    if not 1 <= first < len(paths):
        raise ValueError(
            f"first = {first} of {len(paths)} runs files: accepted: 1 to {len(paths) - 1} "
            "(the grid's files, then at least one of its rerun's)"
        )
    grid, rerun = (_one_copy(part) for part in (paths[:first], paths[first:]))
    gaps = [
        abs(a["results"][t]["val_loss"] - rerun[key]["results"][t]["val_loss"])
        for key, a in grid.items()
        if key in rerun
        for t in a["results"]
        if t in rerun[key]["results"]
    ]
    if not gaps:
        raise ValueError(f"the two grids {[str(p) for p in paths]} share no run and horizon")
    ranked = sorted(gaps, reverse=True)
    return {"max_gap": ranked[0], "pairs": len(gaps), "second_gap": ranked[min(1, len(ranked) - 1)]}


def _one_copy(paths: Sequence[Path]) -> dict[tuple, dict]:
    """One copy of a grid, read from one or more files, by run; a run found twice is refused."""
    copy: dict[tuple, dict] = {}
    for path in paths:
        for r in _jsonl(path):
            key = _run_key(r)
            if key in copy:
                raise ValueError(f"run {key} is in one copy twice (again in {path}): one each")
            copy[key] = r
    return copy


def horizon_train_val_gap(paths: Sequence[Path], width: int, batch: int, horizon: int) -> Values:
    """At one (width, batch, horizon), per seed: the LR of the lowest final validation loss, the LR
    of the lowest final training loss (the decay branch's last 10-step window), and the validation
    minus training loss at the former. ``gap``, ``val_lr``, ``train_lr`` average the seeds (``_min``
    and ``_max``: the seeds' range); ``train_low_edge`` counts training optima on the window's lowest
    LR. With data repeated many times, a training optimum below the validation one and a wide gap say
    that generalisation, not optimisation, sets η* (Time Transfer's regimes assume one pass)."""
    key = str(horizon)
    rows = [
        r
        for r in _runs(paths)
        if r["width"] == width and r["batch"] == batch and key in r["results"]
    ]
    if not rows:
        raise ValueError(f"no run at width {width}, batch {batch}, horizon {horizon} in {paths}")
    lowest = min(r["log2_lr"] for r in rows)

    def val(r: dict) -> float:
        return r["results"][key]["val_loss"]

    def train(r: dict) -> float:
        return r["results"][key]["curve"][-1][1]

    per_seed = []
    for seed in sorted({r["seed"] for r in rows}):
        mine = [r for r in rows if r["seed"] == seed]
        by_val, by_train = min(mine, key=val), min(mine, key=train)
        per_seed.append((val(by_val) - train(by_val), by_val["log2_lr"], by_train["log2_lr"]))
    gaps, val_lrs, train_lrs = zip(*per_seed, strict=True)
    n = len(per_seed)
    return {
        "gap": sum(gaps) / n,
        "gap_min": min(gaps),
        "gap_max": max(gaps),
        "val_lr": sum(val_lrs) / n,
        "train_lr": sum(train_lrs) / n,
        "train_lr_min": min(train_lrs),
        "train_lr_max": max(train_lrs),
        "train_low_edge": sum(lr == lowest for lr in train_lrs),
        "seeds": n,
    }


def horizon_pooled_slope(
    paths: Sequence[Path], width: int, key: str, batches: str | None = None, at: int | None = None
) -> Values:
    """A pooled slope of log2 η* at one width, refitted from the grid's runs: ``key`` is
    in_horizon (in log2 T, fixed B), in_batch (in log2 B, fixed T) or in_batch_fixed_tokens;
    ``batches`` ("8,16,32") keeps the batches whose LR windows were run whole; ``at`` reads the
    one slope at that fixed batch (in_horizon) or horizon (in_batch) instead of the pool."""
    from abcparam.transfer.horizon_fit import summarise

    rows = [r for r in _runs(paths) if r["width"] == width]
    if batches is not None:
        rows = [r for r in rows if r["batch"] in {int(b) for b in batches.split(",")}]
    fits = summarise(rows)["per_width"][width]
    fit = fits["pooled"][key] if at is None else fits[key][at]
    return {"slope": fit["slope"], "low": fit["low"], "high": fit["high"]}


def horizon_width_slope(
    paths: Sequence[Path], batch: int, horizon: int | None = None, horizons: str | None = None
) -> Values:
    """Slope of log2 η* in log2 width at one batch, refitted from the grids' runs (at one
    horizon, or pooled over the horizons, only ``horizons`` when given); μP's transfer says 0."""
    from abcparam.transfer.horizon_fit import summarise

    rows = _only_horizons([r for r in _runs(paths) if r["batch"] == batch], horizons)
    fits = summarise(rows)["in_width"][batch]
    fit = fits["pooled"] if horizon is None else fits["per_horizon"][horizon]
    return {"slope": fit["slope"], "low": fit["low"], "high": fit["high"]}


def horizon_width_drift_cells(paths: Sequence[Path], min_widths: int = 3) -> Values:
    """Over every (batch, horizon) cell that ran at ``min_widths`` widths or more, how many width
    slopes of log2 η* have intervals wholly below 0, wholly above 0, and the most negative slope:
    whether one cell's drift stands out or the grid drifts a little everywhere."""
    from abcparam.transfer.horizon_fit import summarise

    slopes = [
        fit
        for per in summarise(_runs(paths))["in_width"].values()
        for fit in per["per_horizon"].values()
        if fit["cells"] >= min_widths
    ]
    return {
        "cells": len(slopes),
        "negative": sum(f["high"] < 0 for f in slopes),
        "positive": sum(f["low"] > 0 for f in slopes),
        "lowest": min(f["slope"] for f in slopes),
    }


def horizon_width_steps(paths: Sequence[Path], widths: str = "64,128,256") -> Values:
    """Where the width drift sits: the mean change of seed-mean log2 η* across each step between
    consecutive ``widths`` over every (batch, horizon) cell that ran at all of them, with its
    seed-bootstrap interval (keys ``mean_64_128``, ``low_64_128``, ``high_64_128``, ...)."""
    from abcparam.transfer.horizon_fit import optima, width_steps

    split = width_steps(optima(_runs(paths))[0], [int(w) for w in widths.split(",")])
    out: Values = {"cells": split["cells"]}
    for step in split["steps"]:
        for key in ("mean", "low", "high"):
            out[f"{key}_{step['from']}_{step['to']}"] = step[key]
    return out


def horizon_optimum_gap(paths: Sequence[Path], widths: str, batch: int) -> Values:
    """The largest gap between two widths' seed-mean log2 η* over the horizons both ran, at one
    batch, refitted from the grids' runs; μP's transfer says 0."""
    from abcparam.transfer.horizon_fit import summarise

    first, second = (int(w) for w in widths.split(","))
    rows = [r for r in _runs(paths) if r["batch"] == batch]
    mean = {(o["width"], o["horizon"]): o["log2_lr_mean"] for o in summarise(rows)["optima"]}
    gaps = [
        abs(v - mean[(second, t)])
        for (w, t), v in mean.items()
        if w == first and (second, t) in mean
    ]
    return {"gap": max(gaps), "horizons": len(gaps)}


def late_width_verdicts(paths: Sequence[Path], convention: str) -> Values:
    """The late-training check refitted from its runs: of the hidden layers' width slopes of the
    late relative update under one decay convention, how many the checks' one rule passes
    against the equilibrium √(2d)'s slope, how many are unresolved, and the slopes' range."""
    from abcparam.transfer.horizon_fit import late_training_check, late_width_slopes

    (path,) = paths
    checks = [
        {"width": r["width"], "convention": r["convention"], "seed": r["seed"],
         "layers": late_training_check(r)}
        for r in _jsonl(path)
    ]  # fmt: skip
    fits = [f for f in late_width_slopes(checks) if f["convention"] == convention and f["judged"]]
    slopes = [f["measured"] for f in fits]
    return {
        "passed": sum(bool(f["passed"]) for f in fits),
        "fits": len(fits),
        "unresolved": sum(bool(f["unresolved"]) for f in fits),
        "low": min(slopes),
        "high": max(slopes),
    }


def longest_copies(rows: list[dict]) -> list[dict]:
    """One run per (width, batch, LR, seed): where grids run apart repeat a run (the same seed and
    data order, one branched to a longer horizon), the copy with the longest stable phase."""
    kept: dict[tuple, dict] = {}
    for row in rows:
        key = _run_key(row)
        if key not in kept or len(row.get("stable_curve") or ()) > len(
            kept[key].get("stable_curve") or ()
        ):
            kept[key] = row
    return list(kept.values())


def critical_batch_fit(
    paths: Sequence[Path], width: int, targets: str, longest: bool = False
) -> Values:
    """The slope of log2 B_crit against log2 E_min over the target losses ("3.0,2.9,..."), with
    its interval, and the range of B_crit (sequences), refitted from the stable-phase curves;
    ``longest``: the grids overlap, so keep each run's longest copy (`longest_copies`)."""
    from abcparam.transfer.critical_batch import critical_batch

    losses = [float(x) for x in targets.split(",")]
    rows = _runs(paths)  # grids of one width at other batches
    if longest:
        rows = longest_copies(rows)
    entry = critical_batch(rows, losses)[str(width)]
    fits = [t["fit"]["b_crit"] for t in entry["targets"] if t["fit"]]
    slope = entry["slope"] or {"slope": float("nan"), "interval": [float("nan")] * 2}
    low, high = slope["interval"] or (float("nan"), float("nan"))
    return {
        "slope": slope["slope"],
        "low": low,
        "high": high,
        "b_min": min(fits),
        "b_max": max(fits),
        "fitted": len(fits),
        "targets": len(losses),
    }


def sensitivity_horizon_slope(paths: Sequence[Path], width: int, batch: int, window: str) -> Values:
    """Wortsman's LR sensitivity: its slope in log2 T at one (width, batch) over the LR window
    ``lo:hi:step`` (log2), refitted from the grid's runs."""
    from abcparam.transfer.horizon_sensitivity import sensitivity_summary

    lo, hi, step = (float(x) for x in window.split(":"))
    grid = [lo + i * step for i in range(round((hi - lo) / step) + 1)]
    (path,) = paths
    summary = sensitivity_summary(_jsonl(path), {batch: grid})
    (fit,) = [s for s in summary["slopes_in_horizon"] if (s["width"], s["batch"]) == (width, batch)]
    return {"slope": fit["slope"], "low": fit["low"], "high": fit["high"]}


def sensitivity_width_slope(paths: Sequence[Path], variant: str, scheme: str) -> Values:
    """Wortsman et al.'s LR sensitivity per doubling of width for one recipe and scheme, over
    every width the runs files hold: the slope of the seed mean against log2 width with a 95 %
    bootstrap over seeds resampled jointly across widths."""
    from abcparam.forecasts import width_slope
    from experiments.lab.forecasts import sensitivity_by_width

    table = sensitivity_by_width(paths, variant, scheme)
    fit = width_slope({width: entry["by_seed"] for width, entry in table.items()})
    return {"slope": fit["slope"], "low": fit["low"], "high": fit["high"]}


def sensitivity_gap(
    paths: Sequence[Path], first: str, second: str, scheme: str, width: int, split_log2_lr: float
) -> Values:
    """How much recipe ``first``'s LR sensitivity exceeds ``second``'s (one scheme and width,
    seed means), split into the LRs below ``split_log2_lr``, those above, and the best loss."""
    from experiments.lab.forecasts import sensitivity_gap_parts

    return sensitivity_gap_parts(paths, first, second, scheme, width, split_log2_lr)


RECOMPUTE: dict[str, Callable[..., Values]] = {
    f.__name__: f
    for f in (
        fits_within,
        run_summary,
        slope_range,
        wrong_rules_caught,
        table_count,
        engine_benchmark,
        batched_benchmark,
        wd_damage_onset,
        wd_decay_gain,
        wd_optimum_shift,
        wd_width_slope,
        wd_lr_slope,
        mup_crosscheck,
        series_value,
        tied_logit_slope,
        wd_timescale,
        horizon_lr_slope,
        horizon_pooled_slope,
        horizon_width_slope,
        horizon_optimum_gap,
        horizon_width_drift_cells,
        horizon_width_steps,
        horizon_rerun_gap,
        horizon_train_val_gap,
        late_width_verdicts,
        critical_batch_fit,
        sensitivity_horizon_slope,
    )
}


# --- evidence ---


@cache
def _sweep_analysis(folder: str, mtime_ns: int) -> dict:
    """The regret analysis (:func:`abcparam.transfer.regret.analyse`: one optimum estimator,
    bootstrap over seeds, fixed seed) of every run a sweep saved, labelled by the sweep's arms."""
    from abcparam.transfer.regret import analyse

    root = Path(folder)
    cfg = json.loads((root / "summary.json").read_text())["config"]
    label = {(s, o, v): a for a, (s, o, v, _) in cfg["arms"].items()}
    rows = []
    for line in (root / "runs.jsonl").read_text().splitlines():
        r = json.loads(line)
        arm = label.get((r["scheme"], r["optimizer"], r["update_view"]))
        size = r["depth"] if cfg["vary"] == "depth" else r["width"]
        if arm and size in cfg["sizes"] and r["steps"] == cfg["steps"] and r["seed"] < cfg["seeds"]:
            loss = r["val_loss"] if r["val_loss"] is not None else float("inf")
            rows.append({**r, "scheme": arm, "val_loss": loss})
    return analyse(rows, vary=cfg["vary"])


def sweep_statistic(
    paths: Sequence[Path], arm: str, quantity: str, size: int | None = None
) -> Values:
    """One arm of a regret sweep, recomputed from its runs.jsonl: the drift of log2 lr* per
    doubling (``quantity="drift"``), the transfer regret at ``size`` (default: the largest) or
    the optimum at ``size``, each with its 95 % bootstrap interval over seeds."""
    runs = next(p for p in paths if p.name == "runs.jsonl")
    result = _sweep_analysis(str(runs.parent), runs.stat().st_mtime_ns)[arm]
    at = str(size if size is not None else max(result["sizes"]))
    if quantity == "drift":
        stat = result["drift"]
    else:  # keyed by int when just computed
        table = result[quantity]
        stat = table[int(at)] if int(at) in table else table[at]
    lo, hi = stat["interval"]
    return {"value": stat["value"] + 0.0, "lo": lo + 0.0, "hi": hi + 0.0}


RECOMPUTE[sweep_statistic.__name__] = sweep_statistic


def precision_gap(paths: Sequence[Path], scheme: str, variant: str, width: int) -> Values:
    """Simulated low-precision training: the validation-loss gap to fp32 (paired by seed) of one
    scheme, variant and width, recomputed from the saved runs — its seed mean, 95 % Student-t
    interval and the largest |gap| of any seed."""
    from scipy import stats

    (path,) = paths
    runs = _load(path)["runs"]
    ref = {
        r["seed"]: r["val_loss"]
        for r in runs
        if (r["scheme"], r["variant"], r["width"]) == (scheme, "fp32", width)
    }
    gaps = np.array(
        [
            r["val_loss"] - ref[r["seed"]]
            for r in runs
            if (r["scheme"], r["variant"], r["width"]) == (scheme, variant, width)
        ],
        dtype=float,
    )
    half = stats.t.ppf(0.975, len(gaps) - 1) * gaps.std(ddof=1) / np.sqrt(len(gaps))
    mean = float(gaps.mean())
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "half": half, "seeds": len(gaps)}


def precision_gap_range(paths: Sequence[Path], variant: str) -> Values:
    """Smallest and largest seed-mean gap, and the largest |interval end|, of one variant over
    every scheme and width of a precision-training file."""
    (path,) = paths
    runs = _load(path)["runs"]
    cells = sorted({(r["scheme"], r["width"]) for r in runs if r["variant"] == variant})
    got = [precision_gap(paths, s, variant, w) for s, w in cells]
    return {
        "low": min(g["mean"] for g in got),
        "high": max(g["mean"] for g in got),
        "bound": max(max(abs(g["lo"]), abs(g["hi"])) for g in got),
        "cells": len(got),
        "zero_in": sum(g["lo"] <= 0 <= g["hi"] for g in got),
    }


RECOMPUTE.update({f.__name__: f for f in (precision_gap, precision_gap_range)})


def main(argv: list[str] | None = None) -> int:
    """Print every claim with its recomputed text; exit 1 if one differs from the ledger."""
    from experiments.lab.ledger import load_ledger, recompute

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("ids", nargs="*", help="only these claims")
    args = parser.parse_args(argv)
    status = 0
    for claim in load_ledger():
        if args.ids and claim.id not in args.ids:
            continue
        got = recompute(claim)
        ok = got == claim.text
        status = status or int(not ok)
        print(
            f"{'ok ' if ok else 'DIFF'} {claim.id}: {claim.text!r}" + ("" if ok else f" -> {got!r}")
        )
    return status


# --- forecasts ---


def onset_width_exponent(
    paths: Sequence[Path],
    scheme: str,
    rise: float = 20.0,
    bootstrap: int = 1000,
    plain: bool = False,
) -> Values:
    """Width exponent of the attention-logit onset LR, refitted from the traced runs: each seed's
    onset (the log2 LR where the largest logit has risen by ``rise``), least squares against log2
    width, a 90 % seed-bootstrap interval (abcparam.forecasts.onsets).  Several files are read as
    one sweep (widths run apart); ``plain``: only runs without qk-layernorm or z-loss."""
    from abcparam.forecasts.onsets import interpolated_onset, onset_exponent, seed_curves

    rows = _runs(paths)
    if plain:
        rows = [r for r in rows if not r.get("qk_layernorm") and not r.get("z_loss")]
    curves = seed_curves(rows)
    widths = sorted(w for sch, w in curves if sch == scheme)
    per = {
        w: {s: interpolated_onset(c, rise) for s, c in curves[(scheme, w)].items()} for w in widths
    }
    fit = onset_exponent(per, bootstrap=bootstrap)
    return {"exponent": fit["exponent"], "lo": fit["interval"][0], "hi": fit["interval"][1]}


def epsilon_gap(paths: Sequence[Path], width: int, eps: float, control: float = 1e-8) -> Values:
    """Large-eps minus control validation loss at the control's best grid LR (mean over seeds),
    paired by seed: mean and standard error."""
    (path,) = paths
    rows = [r for r in _jsonl(path) if r["width"] == width]

    def curve(e: float) -> dict[float, dict[int, float]]:
        out: dict[float, dict[int, float]] = defaultdict(dict)
        for r in rows:
            if r["eps"] == e:
                loss = r["val_loss"]
                out[r["log2_lr"]][r["seed"]] = np.inf if loss is None or r["diverged"] else loss
        return out

    ctrl, big = curve(control), curve(eps)
    best = min(ctrl, key=lambda lr: np.mean(list(ctrl[lr].values())))
    gaps = np.array([big[best][s] - ctrl[best][s] for s in sorted(ctrl[best])])
    return {"gap": float(gaps.mean()), "se": float(gaps.std(ddof=1) / np.sqrt(len(gaps)))}


def json_value(paths: Sequence[Path], keys: str) -> Values:
    """One value of a saved JSON summary, by its key path ``a/b/0/c`` (a number indexes a list;
    for numbers the engine derived from measurements, e.g. a forecast crossover width)."""
    (path,) = paths
    value: Any = _load(path)
    for key in keys.split("/"):
        value = value[int(key)] if key.isdigit() else value[key]
    return {"value": value}


def variant_sensitivity(paths: Sequence[Path], variant: str, scheme: str, width: int) -> Values:
    """Wortsman et al.'s LR sensitivity of one recipe (plain / qk-layernorm+z-loss /
    independent-decay / warmup, read from each run's settings), scheme and width: mean ±
    standard error over seeds."""
    from abcparam.forecasts import sensitivity_table
    from experiments.lab.forecasts import _complete_curves, variant_of

    (path,) = paths
    every = _jsonl(path)
    for row in every:
        row["variant"] = variant_of(row)
        row["val_loss"] = np.inf if row["val_loss"] is None else row["val_loss"]
    group = ("variant", "scheme", "width")
    mine = [r for r in every if (r["variant"], r["scheme"], r["width"]) == (variant, scheme, width)]
    # the analysis's rule: a curve short of the sweep's whole grid is not quoted
    chosen = {id(r) for r in mine}
    rows = [r for r in _complete_curves(every, group) if id(r) in chosen]
    if len(rows) != len(mine):
        raise ValueError(
            f"{variant} {scheme} width {width}: {len(mine) - len(rows)} of its {len(mine)} runs "
            "lie on LR curves short of the sweep's grid (an interrupted sweep); accepted: whole "
            "LR curves"
        )
    ((_, entry),) = sensitivity_table(rows, ("scheme",)).items()
    return {"mean": entry["mean"], "se": entry["stderr"]}


def held_out_forecast(
    paths: Sequence[Path], scheme: str, paired: bool = False, bootstrap: int = 1000
) -> Values:
    """The largest trained width's final loss forecast from the smaller widths (Mu-scaling's
    law, bootstrap over seeds, 90 % interval), beside the mean measured there."""
    from abcparam.forecasts import predict_loss

    (path,) = paths
    rows = [r for r in _jsonl(path) if r["scheme"] == scheme]
    widths = sorted({r["width"] for r in rows})
    p = predict_loss(rows, width=widths[-1], widths=widths[:-1], bootstrap=bootstrap, paired=paired)
    held = p.evaluate([r["val_loss"] for r in rows if r["width"] == widths[-1]])
    return {
        "forecast": p.loss,
        "lo": p.interval[0],
        "hi": p.interval[1],
        "measured": held["measured"],
        "se": held["measured_stderr"],
        "error": held["error"],
        "gap": held["last_gap"],
    }


RECOMPUTE.update(
    {
        f.__name__: f
        for f in (
            onset_width_exponent,
            epsilon_gap,
            json_value,
            variant_sensitivity,
            sensitivity_width_slope,
            sensitivity_gap,
            held_out_forecast,
        )
    }
)


def horizon_batched_benchmark(paths: Sequence[Path], width: int | None = None) -> Values:
    """The batched horizon trainer's benchmark at ``width`` from its raw timings: the ratio of
    the two paths' median wall times, the range of the per-repeat ratios, both medians, and the
    largest validation-loss difference between the paths (``width`` None: that difference's
    largest over every width benchmarked, alone)."""
    (path,) = paths
    every = _load(path)["benchmarks"]
    if width is None:
        return {"fidelity": max(r["fidelity_max_abs_val_loss"] for r in every)}
    rows = [r for r in every if r["width"] == width]
    if not rows:
        raise ValueError(f"no benchmark at width {width} in {path}")
    (row,) = rows
    per_repeat = [s / b for s, b in zip(row["separate_s"], row["batched_s"], strict=True)]
    sep, bat = statistics.median(row["separate_s"]), statistics.median(row["batched_s"])
    return {
        "speedup": sep / bat,
        "low": min(per_repeat),
        "high": max(per_repeat),
        "separate_s": sep,
        "batched_s": bat,
        "fidelity": row["fidelity_max_abs_val_loss"],
        "runs": row["runs"],
    }


RECOMPUTE[horizon_batched_benchmark.__name__] = horizon_batched_benchmark


if __name__ == "__main__":
    raise SystemExit(main())
