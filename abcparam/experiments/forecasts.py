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

Presets: ``cpu`` (the committed CPU-scale run), ``quick`` (seconds; the fast test), ``gpu``
(widths 256..2048, ``--device cuda``).  Run: ``python experiments/forecasts.py [--preset cpu]
[--phase tune,scale,sensitivity]``; results in experiments/results/forecasts/<preset>/.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

from ..records import load_json, results_dir, save_json

PHASES = ("tune", "scale", "sensitivity")
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


PRESETS = {
    # scaled down to the shared 2-core CPU: widths 32..128 predict 256 (not 64..256 -> 512),
    # 300 steps (not 1,000), sensitivity at widths 32 and 64 with 100 steps
    "cpu": Preset(64, (32, 64, 128, 256), tuple(range(-11, -2)), 300, (32, 64), 5, 100),
    "quick": Preset(16, (16, 24, 32, 48), (-8.0, -6.0), 4, (16,), 2, 4, 1, 2, 16),
    "gpu": Preset(256, (256, 512, 1024, 2048), tuple(range(-12, -3)), 2000, (256, 512), 11, 1000),
}
TUNE_SCHEME = "mup"
SCALE_SCHEMES = ("mup", "sp-constant-lr")
SENSITIVITY_SCHEMES = ("sp-constant-lr", "mup", "u-mup")
#: (name, settings): the plain recipe and Wortsman et al.'s two mitigations together
VARIANTS = (("plain", {}), ("qk-layernorm+z-loss", {"qk_layernorm": True, "z_loss": 1e-4}))


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


def run(preset_name: str, phases: list[str], out: Path, device: str, workers: int) -> int:
    from ..transfer.sweep import grid, run_sweep

    preset = PRESETS[preset_name]
    common = dict(base_width=preset.base_width, batch=preset.batch, device=device)
    started = time.time()
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
    if "tune" in phases:
        run_sweep(tune_cfgs, out / "tune" / "runs.jsonl", workers=workers)
    if "scale" in phases:
        tuned = run_sweep(tune_cfgs, out / "tune" / "runs.jsonl", workers=workers)
        configs = []
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
        run_sweep(configs, out / "scale" / "runs.jsonl", workers=workers)
    if "sensitivity" in phases:
        configs = []
        # width-major: an interrupted sweep leaves whole (width, variant, scheme) LR curves
        for width in preset.sensitivity_widths:
            for _, settings in VARIANTS:
                configs += grid(
                    "transformer",
                    SENSITIVITY_SCHEMES,
                    "adam",
                    [width],
                    sensitivity_grid(preset.sensitivity_points),
                    preset.seeds,
                    steps=preset.sensitivity_steps,
                    trace_every=max(1, preset.trace_every // 2),
                    **common,
                    **settings,
                )
        run_sweep(configs, out / "sensitivity" / "runs.jsonl", workers=workers)
    config = {
        "preset": preset_name,
        "sizes": preset.__dict__,
        "phases": phases,
        "device": device,
        "tune_scheme": TUNE_SCHEME,
        "scale_schemes": SCALE_SCHEMES,
        "sensitivity_schemes": SENSITIVITY_SCHEMES,
        "variants": dict(VARIANTS),
        "data": "pydoc_data.topics, character level, context 32 (abcparam.transfer.data)",
        "model": "abcparam GPT, 2 blocks, 4 heads, Adam",
    }
    previous = out / "config.json"
    runs = load_json(previous).get("runs", []) if previous.exists() else []
    config["runs"] = [*runs, {"phases": phases, "started": started}]
    save_json(previous, config, started=started)
    return 0


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
    args = parser.parse_args(argv)
    phases = [p.strip() for p in args.phase.split(",")]
    bad = [p for p in phases if p not in PHASES]
    if bad:
        parser.error(f"phase {bad[0]!r}; accepted: {', '.join(PHASES)}")
    reproducible()
    out = Path(args.out) if args.out else results_dir("forecasts", args.preset)
    return run(args.preset, phases, out, args.device, args.workers)
