"""Forecasts on the character-level GPT (pydoc text): tune the LR at width 64, train wider models
at that LR to fit and test a loss-vs-width law, and sweep the LR at high rates for the
instabilities and the LR sensitivity (Wortsman et al. 2023), with and without qk-layernorm and
z-loss.  Three phases, each a resumable sweep (``abcparam.transfer.sweep``) in its own folder:

- ``tune``: μP at the base width, a log2-LR grid, 3 seeds (SP with one LR is the same model at
  the base width, so its tuned LR is the same; a test checks the two train identically);
- ``scale``: μP and SP at the LR tuned at the base width over the widths (the largest is held out
  by the analysis and predicted from the others), 3 seeds, loss curves traced;
- ``sensitivity``: SP, μP, u-μP over a coarse LR grid up to 3e-1, with and without
  qk-layernorm + z-loss 1e-4, attention logits and log Z traced.

Presets: ``cpu`` (the committed CPU-scale run), ``cpu-long`` (widths 64..256 predict 512 after
1,000 steps; phases tune and scale), ``quick`` (seconds; the fast test), ``gpu``
(widths 256..2048, ``--device cuda``).  Run: ``python experiments/forecasts.py [--preset cpu]
[--phase tune,scale,sensitivity]``; results in experiments/results/forecasts/<preset>/.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from abcparam.records import load_json, save_json
from experiments.lab.paths import results_dir

PHASES = ("tune", "scale", "sensitivity", "onset", "variants")
#: Wortsman et al.'s LR range for the sensitivity metric, 3e-4 .. 3e-1, as log2 values
LOG2_LR_RANGE = (math.log2(3e-4), math.log2(3e-1))


@dataclass(frozen=True)
class Preset:
    """The sizes of one run of the experiment."""

    base_width: int
    scale_widths: tuple[int, ...]  # the last one is held out and predicted
    tune_log2_lrs: tuple[float, ...]
    scale_steps: int
    sensitivity_widths: tuple[int, ...]
    sensitivity_points: int  # LR grid points over LOG2_LR_RANGE, both ends included
    sensitivity_steps: int
    seeds: int = 3
    trace_every: int = 10
    batch: int = 128
    #: the onset phase: a fine LR grid (0.5 log2) around the attention-logit onset at 3 widths;
    #: it must reach past SP's onset at the smallest width (a grid ending at 2^-5 did not)
    onset_widths: tuple[int, ...] = ()
    onset_log2_lrs: tuple[float, ...] = ()
    onset_steps: int = 100
    #: the variants phase: the sensitivity with a base width below every measured width, so that
    #: "flat in width" compares models that differ in every scheme
    variant_base_width: int = 32
    variant_widths: tuple[int, ...] = ()
    #: the VARIANTS the sensitivity phase runs (by name)
    sensitivity_variants: tuple[str, ...] = ("plain", "qk-layernorm+z-loss")
    #: the schemes the sensitivity and variants phases run; None: all of SENSITIVITY_SCHEMES
    sensitivity_schemes: tuple[str, ...] | None = None
    #: the EXTRA_VARIANTS the variants phase runs (by name)
    extra_variants: tuple[str, ...] = ("plain", "independent-decay", "warmup")


PRESETS = {
    # scaled down to the shared 2-core CPU: widths 32..128 predict 256 (not 64..256 -> 512),
    # 300 steps (not 1,000), sensitivity at widths 32 and 64 with 100 steps
    "cpu": Preset(
        64,
        (32, 64, 128, 256),
        tuple(range(-11, -2)),
        300,
        (32, 64),
        5,
        100,
        onset_widths=(32, 64, 128),
        onset_log2_lrs=tuple(x / 2 for x in range(-20, -5)),
        variant_widths=(64, 128),
    ),
    # item 1 at the sizes: widths 64..256 predict 512, 1,000 steps, LR tuned at 64 on a
    # 0.5-log2 grid around the cpu preset's optimum (2^-7 at 300 steps); phases tune and scale
    "cpu-long": Preset(
        64,
        (64, 128, 256, 512),
        tuple(x / 2 for x in range(-18, -11)),
        1000,
        (64,),
        5,
        100,
        trace_every=20,
    ),
    # item 3 at the sizes, cut to what two shared cores finish in about 80 minutes:
    # 1,000 steps, Wortsman et al.'s 3e-4 .. 3e-1 on a 0.5-log2 grid (21 points), widths 64 and
    # 128, the plain recipe only (the mitigations stay at the cpu preset's 100 steps); the base
    # width 32 lies below both, so that no measured width is the one where the schemes coincide
    "cpu-sensitivity": Preset(
        32,
        (32,),
        (-7.0,),  # not run: this preset runs the sensitivity phase only
        1000,
        (64, 128),
        21,
        1000,
        trace_every=20,
        sensitivity_variants=("plain",),
    ),
    "quick": Preset(
        16,
        (16, 24, 32, 48),
        (-8.0, -6.0),
        4,
        (16,),
        2,
        4,
        1,
        2,
        16,
        onset_widths=(16, 32),
        onset_log2_lrs=(-8.0, -4.0, 0.0),
        onset_steps=4,
        variant_base_width=8,
        variant_widths=(16,),
    ),
    "gpu": Preset(
        256,
        (256, 512, 1024, 2048),
        tuple(range(-12, -3)),
        2000,
        (256, 512),
        11,
        1000,
        onset_widths=(256, 512, 1024),
        onset_log2_lrs=tuple(x / 2 for x in range(-24, -5)),
        onset_steps=1000,
        variant_base_width=128,
        variant_widths=(256, 512),
    ),
}
# Wortsman et al.'s main mitigation on cpu-sensitivity's grid and length: qk-layernorm with z-loss,
# at width 128 only (where SP's plain sensitivity rose), to set beside the plain width-128 runs
PRESETS["cpu-sensitivity-qk"] = replace(
    PRESETS["cpu-sensitivity"],
    sensitivity_widths=(128,),
    sensitivity_variants=("qk-layernorm+z-loss",),
)
# Wortsman et al.'s longer warmup (a quarter of training) on the same grid and length at width
# 128, to set beside cpu-sensitivity's plain width-128 runs (same base width, grid and steps)
PRESETS["cpu-sensitivity-warmup"] = replace(
    PRESETS["cpu-sensitivity"], variant_widths=(128,), extra_variants=("warmup",)
)
# warmup and independent decay at width 64 on the same grid and length (warmup first: it pairs
# with cpu-sensitivity-warmup's width 128)
PRESETS["cpu-sensitivity-variants-64"] = replace(
    PRESETS["cpu-sensitivity"], variant_widths=(64,), extra_variants=("warmup", "independent-decay")
)
# independent decay at width 128, so that it too is measured at both CPU widths (pairs with
# cpu-sensitivity-variants-64's width-64 arm and cpu-sensitivity's plain width-128 runs)
PRESETS["cpu-sensitivity-indep-128"] = replace(
    PRESETS["cpu-sensitivity"], variant_widths=(128,), extra_variants=("independent-decay",)
)
# the coupled decay Wortsman et al. compare independent decay with, at both CPU widths, on the
# grid and length of the independent arm (cpu-sensitivity-variants-64, cpu-sensitivity-indep-128)
PRESETS["cpu-sensitivity-coupled"] = replace(
    PRESETS["cpu-sensitivity"], variant_widths=(64, 128), extra_variants=("coupled-decay",)
)
# independent decay at Wortsman et al.'s 1e-4 per step, width 128, every other setting of
# cpu-sensitivity-indep-128: does independent decay still cost the small LRs at a tenth the rate?
# (μP and u-μP only: at 1e-3 per step SP's independent and coupled arms tied at width 128)
PRESETS["cpu-sensitivity-indep-1e-4-128"] = replace(
    PRESETS["cpu-sensitivity-indep-128"],
    extra_variants=("independent-decay-1e-4",),
    sensitivity_schemes=("mup", "u-mup"),
)
# its coupled match: torch AdamW at lambda 0.01, 1e-4 per step at lr = 1e-2 as above at 1e-3
PRESETS["cpu-sensitivity-coupled-0.01-128"] = replace(
    PRESETS["cpu-sensitivity-indep-1e-4-128"], extra_variants=("coupled-decay-0.01",)
)
# SP's two arms at Wortsman et al.'s rate, in one preset: the μP / u-μP pair above for SP
PRESETS["cpu-sensitivity-sp-1e-4-128"] = replace(
    PRESETS["cpu-sensitivity-indep-1e-4-128"],
    extra_variants=("independent-decay-1e-4", "coupled-decay-0.01"),
    sensitivity_schemes=("sp-constant-lr",),
)
# μP's two arms at Wortsman et al.'s rate over 3,000 steps (three times the rest) at width 64:
# do the conventions start to separate once 1e-4 per step has longer to act?
PRESETS["cpu-sensitivity-mup-1e-4-64-3000"] = replace(
    PRESETS["cpu-sensitivity-sp-1e-4-128"],
    sensitivity_schemes=("mup",),
    variant_widths=(64,),
    sensitivity_steps=3000,
)
# the same mitigation at width 64, so that it is measured at both CPU widths
PRESETS["cpu-sensitivity-qk-64"] = replace(PRESETS["cpu-sensitivity-qk"], sensitivity_widths=(64,))
# the mitigation at width 256 on the CPU (the H200 call ended before it), SP and μP first, u-μP
# second, so that qk-layernorm + z-loss, like the plain recipe, is measured at widths 64, 128, 256
PRESETS["cpu-sensitivity-qk-256"] = replace(
    PRESETS["cpu-sensitivity-qk"],
    sensitivity_widths=(256,),
    sensitivity_schemes=("sp-constant-lr", "mup"),
)
PRESETS["cpu-sensitivity-qk-umup-256"] = replace(
    PRESETS["cpu-sensitivity-qk-256"], sensitivity_schemes=("u-mup",)
)
# the longer warmup at width 256, SP and μP first, u-μP second, so that the warmup recipe, like the
# plain one and qk-layernorm + z-loss, is measured at widths 64, 128 and 256
PRESETS["cpu-sensitivity-warmup-256"] = replace(
    PRESETS["cpu-sensitivity-warmup"],
    variant_widths=(256,),
    sensitivity_schemes=("sp-constant-lr", "mup"),
)
PRESETS["cpu-sensitivity-warmup-umup-256"] = replace(
    PRESETS["cpu-sensitivity-warmup-256"], sensitivity_schemes=("u-mup",)
)
# independent decay (1e-3 per step) at width 256, one scheme per preset (μP first: does it keep
# the sensitivity flat in width under this decay?), the width-128 arm's runs but for the width
PRESETS["cpu-sensitivity-indep-mup-256"] = replace(
    PRESETS["cpu-sensitivity-indep-128"], variant_widths=(256,), sensitivity_schemes=("mup",)
)
PRESETS["cpu-sensitivity-indep-sp-256"] = replace(
    PRESETS["cpu-sensitivity-indep-mup-256"], sensitivity_schemes=("sp-constant-lr",)
)
PRESETS["cpu-sensitivity-indep-umup-256"] = replace(
    PRESETS["cpu-sensitivity-indep-mup-256"], sensitivity_schemes=("u-mup",)
)
# AdamW's coupled decay (lambda 0.1) at width 256, one scheme per preset: cpu-sensitivity-coupled's
# width-128 runs but for the width, to set beside the independent arm at 256 above
PRESETS["cpu-sensitivity-coupled-mup-256"] = replace(
    PRESETS["cpu-sensitivity-coupled"], variant_widths=(256,), sensitivity_schemes=("mup",)
)
PRESETS["cpu-sensitivity-coupled-sp-256"] = replace(
    PRESETS["cpu-sensitivity-coupled-mup-256"], sensitivity_schemes=("sp-constant-lr",)
)
PRESETS["cpu-sensitivity-coupled-umup-256"] = replace(
    PRESETS["cpu-sensitivity-coupled-mup-256"], sensitivity_schemes=("u-mup",)
)
# one ~8-minute call on one H200 (experiments/gpu/h200_slice.sh), two sweeps side by side:
# item 1 as cpu-long (LR tuned at 64, 1,000 steps) with width 1024 added, so that widths 64..512
# predict 1024; item 3 as cpu-sensitivity at width 256, the plain recipe then qk-layernorm + z-loss
PRESETS["gpu-scale"] = replace(PRESETS["cpu-long"], scale_widths=(64, 128, 256, 512, 1024))
PRESETS["gpu-sensitivity"] = replace(
    PRESETS["cpu-sensitivity"],
    sensitivity_widths=(256,),
    sensitivity_variants=("plain", "qk-layernorm+z-loss"),
)
# u-μP's plain width-256 curve on the CPU: the H200 call ran out of time before it (SP's and μP's
# width-256 curves are complete there), and on the CPU it joins u-μP's widths 64 and 128
PRESETS["cpu-sensitivity-umup-256"] = replace(
    PRESETS["cpu-sensitivity"], sensitivity_widths=(256,), sensitivity_schemes=("u-mup",)
)
# SP's and μP's plain width-256 curves on the CPU too, so that all three schemes have widths
# 64, 128 and 256 from one setup (the H200's width 256 used another Python's pydoc text)
PRESETS["cpu-sensitivity-sp-mup-256"] = replace(
    PRESETS["cpu-sensitivity-umup-256"], sensitivity_schemes=("sp-constant-lr", "mup")
)
TUNE_SCHEME = "mup"
SCALE_SCHEMES = ("mup", "sp-constant-lr")
SENSITIVITY_SCHEMES = ("sp-constant-lr", "mup", "u-mup")
#: SP with one LR, whose onset the engine says moves with width, and μP, whose onset it says does not
ONSET_SCHEMES = ("sp-constant-lr", "mup")
#: rises of the largest attention logit above its small-LR value that define the onset: the
#: forecast's exponent must not depend on which one is picked
ONSET_RISES = (10.0, 20.0, 40.0)
#: (name, settings): the plain recipe and Wortsman et al.'s two mitigations together
VARIANTS = (("plain", {}), ("qk-layernorm+z-loss", {"qk_layernorm": True, "z_loss": 1e-4}))
#: the variants phase (Wortsman et al. 2023, Secs. 3.2.2 and 3.4): independent weight decay
#: p <- p (1 - s(t) lambda) (AdamW, lambda not multiplied by the LR; 1e-3 per step so that it
#: acts within the short CPU horizon) and a linear warmup over a quarter of training (the plain
#: recipe has none); each (with the plain recipe) at a base width below the measured widths
WARMUP_FRACTION = 0.25
INDEPENDENT_DECAY = 1e-3
#: the coupled arm Wortsman et al. compare independent decay with: torch AdamW's default
#: p <- p (1 - s(t) lr lambda) at lambda = 0.1, whose per-step decay lr * lambda equals the
#: independent arm's 1e-3 at lr = 1e-2, the geometric centre of the sensitivity's LR range
COUPLED_DECAY = 0.1
#: Wortsman et al.'s own independent rate, 1e-4 per step: a tenth of INDEPENDENT_DECAY, to ask
#: whether independent decay's cost at small LRs is its rate or its convention
WORTSMAN_DECAY = 1e-4
#: its coupled match: lambda 0.01 decays by lr * lambda = 1e-4 per step at lr = 1e-2
WORTSMAN_COUPLED_DECAY = 0.01
#: the weight-decay recipes by name: (lambda, convention)
DECAY_VARIANTS = {
    "independent-decay": (INDEPENDENT_DECAY, "independent"),
    "coupled-decay": (COUPLED_DECAY, "coupled"),
    "independent-decay-1e-4": (WORTSMAN_DECAY, "independent"),
    "coupled-decay-0.01": (WORTSMAN_COUPLED_DECAY, "coupled"),
}
EXTRA_VARIANTS = ("plain", "warmup", *DECAY_VARIANTS)


def sensitivity_schemes(preset: Preset) -> tuple[str, ...]:
    """The schemes a preset's sensitivity phase runs (all of SENSITIVITY_SCHEMES unless it names some)."""
    chosen = preset.sensitivity_schemes or SENSITIVITY_SCHEMES
    bad = [s for s in chosen if s not in SENSITIVITY_SCHEMES]
    if bad:
        raise ValueError(
            f"sensitivity scheme {bad[0]!r}; accepted: {', '.join(SENSITIVITY_SCHEMES)}"
        )
    return tuple(chosen)


def variant_settings(name: str, steps: int) -> tuple[str, dict]:
    """(optimizer, RunConfig settings) of a variants-phase recipe."""
    if name == "plain":
        return "adam", {}
    if name == "warmup":
        return "adam", {"warmup": max(2, round(WARMUP_FRACTION * steps))}
    if name in DECAY_VARIANTS:
        decay, convention = DECAY_VARIANTS[name]
        settings = {"weight_decay": decay}
        if convention != "independent":  # the default, kept out of the run key
            settings["decay_convention"] = convention
        return "adamw", settings
    raise ValueError(f"unknown variant {name!r}; accepted: {', '.join(EXTRA_VARIANTS)}")


def _sensitivity_variants(preset: Preset) -> list[tuple[str, dict]]:
    """The (name, settings) of VARIANTS that ``preset``'s sensitivity phase runs."""
    known = dict(VARIANTS)
    bad = [n for n in preset.sensitivity_variants if n not in known]
    if bad:
        raise ValueError(f"sensitivity variant {bad[0]!r}; accepted: {', '.join(known)}")
    return [(n, known[n]) for n in preset.sensitivity_variants]


def sensitivity_grid(points: int) -> list[float]:
    """``points`` log2 LRs evenly spread over [log2 3e-4, log2 3e-1]."""
    lo, hi = LOG2_LR_RANGE
    return [round(lo + (hi - lo) * i / (points - 1), 4) for i in range(points)]


def tuned_log2_lr(rows: list[dict], scheme: str) -> float:
    """The grid LR with the lowest mean validation loss over seeds (diverged runs count as inf)."""
    by_lr: dict[float, list[float]] = {}
    for row in rows:
        if row["scheme"] == scheme:
            loss = row["val_loss"]
            ok = isinstance(loss, int | float) and math.isfinite(loss) and not row["diverged"]
            by_lr.setdefault(row["log2_lr"], []).append(loss if ok else math.inf)
    if not by_lr:
        raise ValueError(f"no tuning runs for scheme {scheme!r}")
    return min(by_lr, key=lambda lr: sum(by_lr[lr]) / len(by_lr[lr]))


def _phase_configs(phase: str, preset, device: str, out: Path, workers: int) -> list:
    """The run configurations of one phase (``scale`` resumes the tune sweep for its LR)."""
    from abcparam.transfer.sweep import grid, run_sweep

    common = dict(base_width=preset.base_width, batch=preset.batch, device=device)
    half_trace = max(1, preset.trace_every // 2)
    tune_cfgs = grid(
        "transformer",
        [TUNE_SCHEME],
        "adam",
        [preset.base_width],
        preset.tune_log2_lrs,
        preset.seeds,
        steps=preset.scale_steps,
        **common,
    )
    if phase == "tune":
        return tune_cfgs
    configs: list = []
    if phase == "scale":
        tuned = run_sweep(tune_cfgs, out / "tune" / "runs.jsonl", workers=workers)
        for scheme in SCALE_SCHEMES:
            configs += grid(
                "transformer",
                [scheme],
                "adam",
                preset.scale_widths,
                [tuned_log2_lr(tuned, TUNE_SCHEME)],
                preset.seeds,
                steps=preset.scale_steps,
                trace_every=preset.trace_every,
                **common,
            )
    elif phase == "sensitivity":
        # width-major: an interrupted sweep leaves whole (width, variant, scheme) LR curves
        for width in preset.sensitivity_widths:
            for _, settings in _sensitivity_variants(preset):
                configs += grid(
                    "transformer",
                    sensitivity_schemes(preset),
                    "adam",
                    [width],
                    sensitivity_grid(preset.sensitivity_points),
                    preset.seeds,
                    steps=preset.sensitivity_steps,
                    trace_every=half_trace,
                    **common,
                    **settings,
                )
    elif phase == "onset":
        configs = grid(
            "transformer",
            ONSET_SCHEMES,
            "adam",
            preset.onset_widths,
            preset.onset_log2_lrs,
            preset.seeds,
            steps=preset.onset_steps,
            trace_every=half_trace,
            **common,
        )
    elif phase == "variants":
        for width in preset.variant_widths:
            for name in preset.extra_variants:
                optimizer, settings = variant_settings(name, preset.sensitivity_steps)
                configs += grid(
                    "transformer",
                    sensitivity_schemes(preset),
                    optimizer,
                    [width],
                    sensitivity_grid(preset.sensitivity_points),
                    preset.seeds,
                    steps=preset.sensitivity_steps,
                    base_width=preset.variant_base_width,
                    batch=preset.batch,
                    device=device,
                    **settings,
                )
    return configs


def run(preset_name: str, phases: list[str], out: Path, device: str, workers: int) -> int:
    from abcparam.transfer.sweep import run_sweep

    preset = PRESETS[preset_name]
    started = time.time()
    for phase in PHASES:  # in this order: scale reads the tuned LR
        if phase in phases:
            configs = _phase_configs(phase, preset, device, out, workers)
            run_sweep(configs, out / phase / "runs.jsonl", workers=workers)
    _save_config(out, preset_name, preset, phases, device, started)
    return 0


def _save_config(out: Path, preset_name: str, preset, phases: list[str], device: str,
                 started: float) -> None:  # fmt: skip
    """The configuration (with every invocation's phases) saved beside the results."""
    config = {
        "preset": preset_name,
        "sizes": preset.__dict__,
        "phases": phases,
        "device": device,
        "tune_scheme": TUNE_SCHEME,
        "scale_schemes": SCALE_SCHEMES,
        "sensitivity_schemes": sensitivity_schemes(preset),
        "onset_schemes": ONSET_SCHEMES,
        "onset_rises": ONSET_RISES,
        "variants": dict(VARIANTS),
        "extra_variants": {
            n: variant_settings(n, preset.sensitivity_steps) for n in EXTRA_VARIANTS
        },
        "data": "pydoc_data.topics, character level, context 32 (abcparam.transfer.data)",
        "model": "abcparam GPT, 2 blocks, 4 heads, Adam",
    }
    previous = out / "config.json"
    runs = load_json(previous).get("runs", []) if previous.exists() else []
    config["runs"] = [*runs, {"phases": phases, "started": started}]
    save_json(previous, config, started=started)
    for phase in phases:  # each phase's runs keep their provenance beside them
        if (out / phase).is_dir():
            save_json(out / phase / "config.json", config, started=started)


def main(argv: list[str] | None = None) -> int:
    from . import reproducible

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu", choices=tuple(PRESETS))
    parser.add_argument(
        "--phase", default=",".join(PHASES), help="comma-separated: " + ", ".join(PHASES)
    )
    parser.add_argument(
        "--out", default=None, help="default: experiments/results/forecasts/<preset>"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--analyse", action="store_true", help="only analyse the saved runs")
    args = parser.parse_args(argv)
    phases = [p.strip() for p in args.phase.split(",")]
    bad = [p for p in phases if p not in PHASES]
    if bad:
        parser.error(f"phase {bad[0]!r}; accepted: {', '.join(PHASES)}")
    reproducible()
    out = Path(args.out) if args.out else results_dir("forecasts", args.preset)
    if not args.analyse:
        run(args.preset, phases, out, args.device, args.workers)
    analyse(out)
    return 0


def variant_of(row: dict) -> str:
    """The VARIANTS (or EXTRA_VARIANTS) name of a sensitivity run, from its settings."""
    if row.get("weight_decay"):
        recipe = (row["weight_decay"], row.get("decay_convention", "independent"))
        return next((n for n, r in DECAY_VARIANTS.items() if r == recipe), "other")
    if row.get("warmup"):
        return "warmup"
    for name, settings in VARIANTS:
        if all(row.get(k, False if k == "qk_layernorm" else 0.0) == v for k, v in settings.items()):
            if settings or (not row.get("qk_layernorm") and not row.get("z_loss")):
                return name
    return "other"


def _scale_summary(folder: Path, bootstrap: int) -> tuple[dict, dict]:
    """Per scheme: the largest width's loss forecast from the smaller ones (with the held-out
    check) and the loss-curve collapse spread."""
    from abcparam.forecasts import collapse_spread, load_runs, predict_loss

    rows = load_runs(folder)
    forecast, collapse = {}, {}
    for scheme in sorted({r["scheme"] for r in rows}):
        mine = [r for r in rows if r["scheme"] == scheme]
        widths = sorted({r["width"] for r in mine})
        target = widths[-1]
        p = predict_loss(mine, width=target, widths=widths[:-1], bootstrap=bootstrap)
        measured = [r["val_loss"] for r in mine if r["width"] == target]
        forecast[scheme] = {**p.to_dict(), "held_out": p.evaluate(measured)}
        # a seed fixes the data order and the validation windows at every width: its effect is
        # shared, so the seeds are also resampled jointly across widths
        paired = predict_loss(mine, width=target, widths=widths[:-1], bootstrap=bootstrap,
                              paired=True)  # fmt: skip
        forecast[scheme]["paired"] = {**paired.to_dict(), "held_out": paired.evaluate(measured)}
        collapse[scheme] = collapse_spread(mine)
    return forecast, collapse


def _onset_rows(logits: dict) -> list[dict]:
    """Per (variant, scheme, width): the measured logit onset beside the engine's exponents."""
    from abcparam.engine.instability import instability_scaling
    from abcparam.forecasts import measured_onset
    from abcparam.transfer.sweep import rules_for

    onsets = []
    for (variant, scheme, width), curve in sorted(logits.items(), key=lambda kv: str(kv[0])):
        scaling = instability_scaling(rules_for(scheme, "adam"))
        onsets.append(
            {
                "variant": variant,
                "scheme": scheme,
                "width": width,
                "measured_onset_log2_lr": measured_onset(curve),
                "onset_exponent": str(scaling.onset_lr),
                "logit_growth_exponent": str(scaling.attention_logit_growth),
                "log_z_exponent": str(scaling.log_z_drift),
                "curve": {str(lr): v for lr, v in curve.items()},
            }
        )
    return onsets


def analyse(out: Path, bootstrap: int = 1000) -> dict:
    """Everything the book and the note quote, from the saved runs: the held-out loss forecast
    per scheme, loss-curve collapse, the LR sensitivity table and the attention-logit onsets
    beside the engine's prediction; written to ``out/summary.json``."""
    import abcparam
    from abcparam.forecasts import load_runs, logit_table, sensitivity_table
    from abcparam.forecasts.onsets import LOGIT_THRESHOLD

    summary: dict = {}
    if (out / "tune" / "runs.jsonl").exists():
        summary["tuned_log2_lr"] = tuned_log2_lr(load_runs(out / "tune"), TUNE_SCHEME)
    if (out / "scale" / "runs.jsonl").exists():
        summary["forecast"], summary["collapse"] = _scale_summary(out / "scale", bootstrap)
    if (out / "sensitivity" / "runs.jsonl").exists():
        rows = load_runs(out / "sensitivity")
        for row in rows:
            row["variant"] = variant_of(row)
        group = ("variant", "scheme", "width")
        complete = _complete_curves(rows, group)
        table = sensitivity_table(complete, group)
        summary["sensitivity"] = [
            {"variant": k[0], "scheme": k[1], "width": k[2], **v} for k, v in table.items()
        ]
        summary["sensitivity_incomplete"] = _incomplete(rows, complete, group)
        logits = logit_table(rows, group)
        onsets = _onset_rows(logits)
        _predict_onsets(onsets)
        summary["onsets"] = onsets
        summary["onset_threshold"] = LOGIT_THRESHOLD
        summary["logit_slopes"] = _logit_slopes(logits)
        summary["engine_version"] = abcparam.__version__
    if (out / "variants" / "runs.jsonl").exists():
        rows = load_runs(out / "variants")
        for row in rows:
            row["variant"] = variant_of(row)
        group = ("variant", "scheme", "width")
        table = sensitivity_table(_complete_curves(rows, group), group)
        summary["sensitivity_variants"] = {
            "base_width": rows[0]["base_width"],
            "independent_decay": INDEPENDENT_DECAY,
            "decay_variants": {n: list(r) for n, r in DECAY_VARIANTS.items()},
            "warmup_fraction": WARMUP_FRACTION,
            "table": [
                {"variant": k[0], "scheme": k[1], "width": k[2], **v} for k, v in table.items()
            ],
        }
    if (out / "onset" / "runs.jsonl").exists():
        summary["onset_fine"] = onset_analysis(load_runs(out / "onset"), bootstrap)
    save_json(out / "summary.json", summary, command=f"forecasts analyse {out}")
    return summary


def _complete_curves(rows: list[dict], group: tuple[str, ...]) -> list[dict]:
    """Rows of (group, seed) LR curves that cover the sweep's whole LR grid: every group of one
    sweep runs the same grid, so the grid is every LR in ``rows``.  An interrupted sweep leaves
    partial curves, which the metric cannot average: a curve cut off before the high LRs where
    training breaks would read as insensitive."""
    grid = {r["log2_lr"] for r in rows}
    seen: dict[tuple, set] = {}
    for r in rows:
        seen.setdefault(tuple(r[g] for g in group) + (r["seed"],), set()).add(r["log2_lr"])
    return [r for r in rows if seen[tuple(r[g] for g in group) + (r["seed"],)] == grid]


def whole_curves(paths: Sequence[Path]) -> list[dict]:
    """The runs of several sweeps (one runs file each), each labelled with its recipe
    (``variant``), keeping only the LR curves that cover their own sweep's whole grid."""
    from abcparam.forecasts import load_runs

    rows = []
    for path in paths:
        every = load_runs(path)
        for row in every:
            row["variant"] = variant_of(row)
        rows += _complete_curves(every, ("variant", "scheme", "width"))
    return rows


def sensitivity_by_width(paths: Sequence[Path], variant: str, scheme: str) -> dict[int, dict]:
    """One recipe's and scheme's LR sensitivity at every width the runs files hold (each file one
    sweep; curves short of its grid left out): {width: sensitivity_table entry}, each with its
    per-seed values (``by_seed``) for :func:`abcparam.forecasts.width_slope`."""
    from abcparam.forecasts import sensitivity_table

    rows = whole_curves(paths)
    mine = [r for r in rows if (r["variant"], r["scheme"]) == (variant, scheme)]
    if not mine:
        raise ValueError(f"no whole {variant} LR curves of {scheme!r} in {[str(p) for p in paths]}")
    return {key[0]: entry for key, entry in sensitivity_table(mine, ("width",)).items()}


def recipe_against_plain(
    recipe_paths: Sequence[Path], variant: str, plain_paths: Sequence[Path], scheme: str
) -> dict:
    """One recipe's LR sensitivity beside the plain recipe's for one scheme at the same widths
    (Wortsman et al. 2023, Sec. 3.3, eq. 1): both per-width tables, both slopes per doubling
    of width (:func:`abcparam.forecasts.width_slope`) and recipe − plain at the widest width."""
    from abcparam.forecasts import width_slope

    recipe = sensitivity_by_width(recipe_paths, variant, scheme)
    plain = sensitivity_by_width(plain_paths, "plain", scheme)
    if sorted(recipe) != sorted(plain):
        raise ValueError(
            f"{variant} of {scheme!r} has widths {sorted(recipe)}, the plain recipe "
            f"{sorted(plain)}; accepted: the same widths for both"
        )
    widest = max(recipe)
    return {
        "scheme": scheme,
        "variant": variant,
        "widths": sorted(recipe),
        "recipe": recipe,
        "plain": plain,
        "recipe_slope": width_slope({w: e["by_seed"] for w, e in recipe.items()}),
        "plain_slope": width_slope({w: e["by_seed"] for w, e in plain.items()}),
        "gap_at_widest": recipe[widest]["mean"] - plain[widest]["mean"],
    }


def recipe_table(comparisons: Sequence[dict], label: str) -> str:
    """The book's markdown table of :func:`recipe_against_plain` results, one row per scheme:
    the recipe per width, both slopes with their intervals and recipe − plain at the widest."""

    def interval(fit: dict) -> str:
        return f"{fit['slope']:+.3f} [{fit['low']:+.3f}, {fit['high']:+.3f}]"

    widths = comparisons[0]["widths"]
    head = [f"{label}: width {widths[0]}", *(f"width {w}" for w in widths[1:])]
    lines = [
        "| scheme | " + " | ".join(head) + " | per doubling of width (nats) | plain, per doubling"
        f" | recipe − plain at {widths[-1]} |",
        "|---" * (len(widths) + 4) + "|",
    ]
    for c in comparisons:
        cells = [f"{c['recipe'][w]['mean']:.3f} ± {c['recipe'][w]['stderr']:.3f}" for w in widths]
        lines.append(
            f"| {c['scheme']} | " + " | ".join(cells) + f" | {interval(c['recipe_slope'])}"
            f" | {interval(c['plain_slope'])} | {c['gap_at_widest']:+.3f} |"
        )
    return "\n".join(lines)


def plot_recipe_against_plain(comparisons: Sequence[dict], label: str, title: str):
    """Sensitivity against log2 width per scheme: the recipe with its standard errors, the plain
    recipe dashed in the same colour; returns the figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(5.4, 3.4))
    for c in comparisons:
        x = np.log2(c["widths"])
        line = ax.errorbar(
            x,
            [c["recipe"][w]["mean"] for w in c["widths"]],
            yerr=[c["recipe"][w]["stderr"] for w in c["widths"]],
            marker="o",
            capsize=3,
            label=f"{c['scheme']}, {label}",
        )
        ax.plot(
            x,
            [c["plain"][w]["mean"] for w in c["widths"]],
            ls="--",
            marker=".",
            color=line[0].get_color(),
            alpha=0.6,
            label=f"{c['scheme']}, plain",
        )
    ax.set_xlabel("log2 width")
    ax.set_ylabel("LR sensitivity (nats)")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def sensitivity_gap_parts(
    paths: Sequence[Path], first: str, second: str, scheme: str, width: int, split_log2_lr: float
) -> dict[str, float]:
    """Where recipe ``first``'s sensitivity differs from ``second``'s (one scheme and width, the
    seed means): ``gap`` = ``below`` + ``above`` + ``best``, the change of the LRs below
    ``split_log2_lr``, of those at or above it, and minus the change of the best loss
    (:func:`abcparam.forecasts.sensitivity_parts`)."""
    import numpy as np

    from abcparam.forecasts import sensitivity_parts

    rows = whole_curves(paths)
    mean = {}
    for recipe in (first, second):
        mine = [
            r for r in rows if (r["variant"], r["scheme"], r["width"]) == (recipe, scheme, width)
        ]
        if not mine:
            raise ValueError(f"no whole {recipe} LR curves of {scheme!r} at width {width}")
        parts = sensitivity_parts(mine, split_log2_lr).values()
        mean[recipe] = {
            k: float(np.mean([p[k] for p in parts])) for k in ("below", "above", "best")
        }
    below = mean[first]["below"] - mean[second]["below"]
    above = mean[first]["above"] - mean[second]["above"]
    best = -(mean[first]["best"] - mean[second]["best"])
    return {"gap": below + above + best, "below": below, "above": above, "best": best}


def _incomplete(rows: list[dict], complete: list[dict], group: tuple[str, ...]) -> list[dict]:
    """The groups with partial LR curves left out of the sensitivity table, with what they hold."""
    kept = {tuple(r[g] for g in group) + (r["seed"],) for r in complete}
    out: dict[tuple, dict] = {}
    for r in rows:
        k = tuple(r[g] for g in group)
        if k + (r["seed"],) in kept:
            continue
        entry = out.setdefault(k, {**dict(zip(group, k)), "runs": 0, "seeds": set()})
        entry["runs"] += 1
        entry["seeds"].add(r["seed"])
    grid = len({r["log2_lr"] for r in rows})
    return [
        {**e, "seeds": sorted(e["seeds"]), "grid_points": grid}
        for _, e in sorted(out.items(), key=lambda kv: str(kv[0]))
    ]


def _logit_slopes(logits: dict) -> list[dict]:
    """Per (variant, scheme, LR): the measured width slope of the largest attention logit between
    the smallest and largest width (log-log), beside the engine's growth exponent."""
    from abcparam.engine.instability import instability_scaling
    from abcparam.transfer.sweep import rules_for

    out = []
    keys = {(k[0], k[1]) for k in logits}
    for variant, scheme in sorted(keys):
        widths = sorted(k[2] for k in logits if k[:2] == (variant, scheme))
        if len(widths) < 2:
            continue
        lo, hi = logits[(variant, scheme, widths[0])], logits[(variant, scheme, widths[-1])]
        predicted = instability_scaling(rules_for(scheme, "adam"))
        for lr in sorted(set(lo) & set(hi)):
            a, b = lo[lr]["max_attention_logit"], hi[lr]["max_attention_logit"]
            slope = (
                math.log(b / a) / math.log(widths[-1] / widths[0])
                if 0 < a < math.inf and 0 < b < math.inf
                else None
            )
            out.append(
                {
                    "variant": variant,
                    "scheme": scheme,
                    "log2_lr": lr,
                    "widths": [widths[0], widths[-1]],
                    "measured_slope": slope,
                    "predicted_growth_slope": float(predicted.attention_logit_growth),
                    "predicted_init_slope": float(predicted.attention_logit_init),
                }
            )
    return out


def onset_analysis(rows: list[dict], bootstrap: int = 1000) -> dict:
    """The fine-grid onset phase: per scheme and rise, each seed's interpolated onset log2 LR at
    each width, the fitted width exponent with its seed-bootstrap interval, beside the engine's
    exponent at full alignment (A3: alpha = 1), at independent sums (alpha = 1/2), its small-rise
    (cross-term, A4') exponent, and the alignment the measured exponent implies under A4."""
    import sympy

    from abcparam.engine.instability import instability_scaling
    from abcparam.forecasts.onsets import interpolated_onset, onset_exponent, seed_curves
    from abcparam.transfer.sweep import rules_for

    curves = seed_curves(rows, ("scheme", "width"))
    out: dict = {"rises": list(ONSET_RISES), "schemes": {}}
    for scheme in sorted({k[0] for k in curves}):
        rules = rules_for(scheme, "adam")
        alpha = sympy.Symbol("alpha")
        symbolic = instability_scaling(rules, alignment=alpha).onset_lr
        entry: dict = {
            "derived_exponent_alignment_1": float(instability_scaling(rules, 1).onset_lr),
            "derived_exponent_alignment_half": float(
                instability_scaling(rules, sympy.Rational(1, 2)).onset_lr
            ),
            "derived_exponent_in_alignment": str(symbolic),
            "derived_exponent_small_rise": float(instability_scaling(rules, 1).onset_lr_linear),
            "by_rise": {},
        }
        widths = sorted(k[1] for k in curves if k[0] == scheme)
        for rise in ONSET_RISES:
            per = {
                w: {s: interpolated_onset(c, rise) for s, c in curves[(scheme, w)].items()}
                for w in widths
            }
            fit = onset_exponent(per, bootstrap=bootstrap)
            if fit["exponent"] is not None and symbolic.free_symbols:
                solved = sympy.solve(sympy.Eq(symbolic, fit["exponent"]), alpha)
                fit["implied_alignment"] = float(solved[0]) if solved else None
            fit["per_seed"] = {str(w): {str(s): v for s, v in d.items()} for w, d in per.items()}
            entry["by_rise"][str(rise)] = fit
        entry["curves"] = {
            str(w): {
                str(s): {str(lr): v for lr, v in c.items()} for s, c in curves[(scheme, w)].items()
            }
            for w in widths
        }
        out["schemes"][scheme] = entry
    return out


def _predict_onsets(onsets: list[dict]) -> None:
    """Add the engine's forecast at each wider width: the onset measured at the smallest width
    moved by ``(n / n0)^e`` (``e`` = the derived onset exponent), and whether the grid allows it.
    A grid onset only bounds the true onset to (the grid point below, the grid point], at the
    calibration width too, so the measured shift is known to an interval (``shift_bounds``) and
    the forecast agrees when its shift lies inside; ``resolved`` says whether that interval is
    narrower than the forecast shift itself (else the grid cannot test the forecast)."""
    from abcparam.forecasts.onsets import shift_bounds

    for entry in onsets:
        same = [
            o for o in onsets if (o["variant"], o["scheme"]) == (entry["variant"], entry["scheme"])
        ]
        base = min(same, key=lambda o: o["width"])
        entry["calibrated_at"] = base["width"]
        if base["measured_onset_log2_lr"] is None or entry is base:
            entry["predicted_onset_log2_lr"] = None
            continue
        e = float(Fraction(entry["onset_exponent"]))
        predicted = base["measured_onset_log2_lr"] + e * math.log2(entry["width"] / base["width"])
        entry["predicted_onset_log2_lr"] = predicted
        grid = sorted(float(lr) for lr in entry["curve"])
        measured = entry["measured_onset_log2_lr"]
        if measured is None:
            entry["agrees"] = predicted > grid[-1]
            continue
        shift = predicted - base["measured_onset_log2_lr"]
        lo, hi = shift_bounds(base["measured_onset_log2_lr"], measured, grid)
        entry["measured_shift_bounds"] = [lo, hi]
        entry["grid_step"] = float(min(b - a for a, b in zip(grid, grid[1:], strict=False)))
        entry["agrees"] = lo < shift < hi
        entry["resolved"] = (hi - lo) < abs(shift) if shift else hi - lo < entry["grid_step"]


if __name__ == "__main__":  # python -m experiments.lab.forecasts (the GPU script)
    raise SystemExit(main())
