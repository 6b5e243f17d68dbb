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


RECOMPUTE: dict[str, Callable[..., Values]] = {
    f.__name__: f
    for f in (
        fits_within,
        run_summary,
        slope_range,
        wrong_rules_caught,
        table_count,
        engine_benchmark,
        mup_crosscheck,
        series_value,
        tied_logit_slope,
    )
}


def main(argv: list[str] | None = None) -> int:
    """Print every claim with its recomputed text; exit 1 if one differs from the ledger."""
    from abcparam.ledger import load_ledger, recompute

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


def _runs(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def onset_width_exponent(
    paths: Sequence[Path], scheme: str, rise: float = 20.0, bootstrap: int = 1000
) -> Values:
    """Width exponent of the attention-logit onset LR, refitted from the traced runs: each seed's
    onset (the log2 LR where the largest logit has risen by ``rise``), least squares against log2
    width, a 90 % seed-bootstrap interval (abcparam.forecasts.onsets)."""
    from abcparam.forecasts.onsets import interpolated_onset, onset_exponent, seed_curves

    (path,) = paths
    curves = seed_curves(_runs(path))
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
    rows = [r for r in _runs(path) if r["width"] == width]

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
    """Wortsman et al.'s LR sensitivity of one recipe (plain / independent-decay / warmup, read
    from each run's settings), scheme and width: mean ± standard error over seeds."""
    from abcparam.forecasts import sensitivity_table

    def name(row: dict) -> str:
        if row.get("weight_decay"):
            return "independent-decay"
        return "warmup" if row.get("warmup") else "plain"

    (path,) = paths
    rows = []
    for row in _runs(path):
        if name(row) == variant and row["scheme"] == scheme and row["width"] == width:
            row["val_loss"] = np.inf if row["val_loss"] is None else row["val_loss"]
            rows.append(row)
    ((_, entry),) = sensitivity_table(rows, ("scheme",)).items()
    return {"mean": entry["mean"], "se": entry["stderr"]}


RECOMPUTE.update(
    {f.__name__: f for f in (onset_width_exponent, epsilon_gap, json_value, variant_sensitivity)}
)


if __name__ == "__main__":
    raise SystemExit(main())
