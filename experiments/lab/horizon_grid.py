"""η*(T, B) on the character-level GPT (pydoc text), μP, AdamW: one warmup-stable-decay run per
(width, batch, LR, seed) with 10 % linear-decay branches at every horizon (MiniCPM's "wind
tunnel"); then the slopes of log η* against log T (fixed B), log B (fixed T) and log B at fixed
tokens, with bootstrap intervals over seeds, per width.

CPU default (about 40 min on two shared cores): widths 32, 64 (base 32); batches 4 and 16
sequences of 32 characters (``--batches 4,8,16`` adds 8); horizons 125, 250, 500 steps; log2 LR
in half steps over a five-point window per batch around a pilot's optimum; 3 seeds.  ``--quick``:
a seconds-long smoke version.  The GPU grid is ``experiments/gpu/horizon_grid.sh``.
Run: ``python experiments/horizon_grid.py``; results in experiments/results/horizon_grid
(runs.jsonl = every branch's loss and curve, config.json, summary.json, summary.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from abcparam.records import device_name, load_json, save_json
from abcparam.transfer.corpora import CORPORA
from experiments.lab.paths import results_dir

from . import reproducible

FULL: dict[str, Any] = {
    "widths": "32,64",
    "batches": "4,16",
    "horizons": "125,250,500",
    "lrs": "-8.5:-5.5:0.5",
    #: per batch, the LR window around the optimum (first centred by a one-seed pilot, then
    #: moved up where the 3-seed runs put the minimum on the window's upper edge): the product
    #: grid trimmed to what a loaded 2-core CPU finishes in about an hour
    "lr_windows": {
        "4": "-8.5:-5:0.5",
        "8": "-7.5:-5:0.5",
        "16": "-7:-4.5:0.5",
        "32": "-6.5:-4.5:0.5",
        "64": "-6:-4:0.5",
    },
    "seeds": 3,
    "warmup": 20,
    #: training losses (stable phase) whose steps-to-target give B_crit: every batch reaches them
    "targets": "3.0,2.9,2.8,2.7,2.6,2.5",
}
#: the issue's grid cut to the CPU: widths 64 and 128, batches 8..64 sequences, horizons 250..2000
#: (each run one WSD trajectory with a decay branch per horizon); the LR windows moved one log2
#: step below FULL's for the 4x longer horizons (eta* falls with T)
LONG: dict[str, Any] = {
    "widths": "64,128",
    "batches": "8,16,32,64",
    "horizons": "250,500,1000,2000",
    "lrs": "-8.5:-4:0.5",
    "lr_windows": {
        "8": "-8.5:-5.5:0.5",
        "16": "-8:-5:0.5",
        "32": "-7.5:-4.5:0.5",
        "64": "-7:-4:0.5",
    },
    "seeds": 3,
    "warmup": 50,
    "targets": "2.9,2.8,2.7,2.6,2.5,2.4",
}
#: the issue's fifth horizon, 4000 steps, at width 64 (batches 8..32 sequences): each run branches
#: at 250..4000, so the slope of log eta* against log T spans all five horizons; every window moved
#: half a log2 step below LONG's (eta* at 2000 steps sat 0.3-0.9 below its value at 250)
LONG_4000: dict[str, Any] = {
    **LONG,
    "widths": "64",
    "batches": "8,16,32",
    "horizons": "250,500,1000,2000,4000",
    "lr_windows": {"8": "-9:-6:0.5", "16": "-8.5:-5.5:0.5", "32": "-8:-5:0.5"},
}
#: the full grid for one GPU (``experiments/gpu/horizon_grid.sh``): widths 256..2048, horizons
#: to 20k steps, batches 16..128 sequences; not yet run
GPU: dict[str, Any] = {
    "widths": "256,512,1024,2048",
    "batches": "16,32,64,128",
    "horizons": "1250,2500,5000,10000,20000",
    "lrs": "-11:-5:0.5",
    "seeds": 3,
    "warmup": 200,
}
#: the CPU width series (64, 128, 256 at batch 8) carried to widths 512..2048 on one GPU call:
#: the same window, warmup, decay and base width (64) as the cpu-4000 runs, horizons to 2000
#: steps (one ~8-minute H200 call, experiments/gpu/h200_width_slice.sh; a folder per width)
GPU_WIDTH: dict[str, Any] = {
    **LONG_4000,
    "widths": "512,1024,2048",
    "batches": "8",
    "horizons": "250,500,1000,2000",
    "lr_windows": {"8": LONG_4000["lr_windows"]["8"]},
    "base_width": 64,
}
#: the late-training coordinate check: relative updates over ``steps`` at one LR, both
#: weight-decay conventions (Kosson et al. 2025, arXiv 2510.19093)
LATE = {
    "cpu": {"widths": "32,64,128,256", "steps": 2000},
    # the CPU check's widths and length plus width 512 (one ~8-minute H200 call)
    "gpu": {"widths": "32,64,128,256,512", "steps": 2000},
}
QUICK: dict[str, Any] = {
    "widths": "16,32",
    "batches": "2,4",
    "horizons": "8,16",
    "lrs": "-8:-6:1",
    "seeds": 2,
    "warmup": 2,
}

PRESETS: dict[str, dict[str, Any]] = {
    "quick": QUICK,
    "cpu": FULL,
    "cpu-long": LONG,
    "cpu-4000": LONG_4000,
    "gpu": GPU,
    "gpu-width": GPU_WIDTH,
}

SCHEDULES = ("wsd", "linear")


def schedule_runs(horizons: list[int], warmup: int, schedule: str, decay_fraction: float):
    """(horizons, decay_fraction) of each run: one WSD run with a branch per horizon, or for
    linear decay to zero one run per horizon decaying from the end of warmup."""
    if schedule == "wsd":
        return [(tuple(horizons), decay_fraction)]
    if schedule != "linear":
        raise ValueError(f"schedule = {schedule!r}; accepted: {', '.join(SCHEDULES)}")
    return [((t,), 1 - warmup / t) for t in horizons]


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"{text!r}: accepted: comma-separated integers, e.g. 64,128") from None


def lr_grid(text: str) -> list[float]:
    """``lo:hi:step`` (log2, inclusive) -> the grid."""
    try:
        lo, hi, step = (float(x) for x in text.split(":"))
    except ValueError:
        raise ValueError(f"--lrs {text!r}; accepted: lo:hi:step in log2, e.g. -9:-6:0.5") from None
    if step <= 0 or hi < lo:
        raise ValueError(f"--lrs {text!r}; accepted: lo <= hi and step > 0")
    count = round((hi - lo) / step)
    return [lo + i * step for i in range(count + 1)]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a seconds-long smoke version")
    p.add_argument("--size", choices=tuple(PRESETS), default=None)
    p.add_argument(
        "--late",
        action="store_true",
        help="run the late-training check (relative update vs sqrt(2 lr wd)) instead of the grid",
    )
    for name in ("widths", "batches", "horizons", "lrs"):
        p.add_argument(f"--{name}", default=None)
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="run seeds first..first+seeds-1: more seeds beside a grid already run (default 0)",
    )
    p.add_argument(
        "--targets",
        default=None,
        help="training losses for the critical batch size (comma-separated; default: preset)",
    )
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--scheme", default="mup")
    p.add_argument("--base-width", type=int, default=None, help="default: the smallest width")
    p.add_argument("--decay-fraction", type=float, default=0.1)
    p.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="wsd",
        help="wsd: one run per cell, a 10%% decay branch per horizon; linear: warmup then linear "
        "decay to zero over the rest, one run per horizon",
    )
    p.add_argument(
        "--corpus",
        choices=CORPORA,
        default="pydoc",
        help="the training text (stdlib: the standard library's source, ten times the pydoc "
        "text, so that long runs at large batches stay within one pass)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--batched",
        action="store_true",
        help="train each cell's LRs and seeds as one batched model (CPU; the same rows as the "
        "separate runs, abcparam.transfer.horizon_batched)",
    )
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default=None)
    p.add_argument(
        "--summary-only",
        action="store_true",
        help="summarise the runs already saved under --out without training any",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) the grid, then write the summary from every saved run."""
    from abcparam.transfer.horizon import finished, grid, run_grid
    from abcparam.transfer.horizon_fit import markdown, summarise

    args = parser().parse_args(argv)
    reproducible()
    size = args.size or ("quick" if args.quick else "cpu")
    if args.first_seed < 0 or (args.late and args.first_seed):
        raise SystemExit(
            f"--first-seed {args.first_seed}: accepted values are 0 or more, and only 0 with --late"
        )
    if args.late:
        return late(args, size, argv)
    sizes = dict(PRESETS[size])
    for name in ("widths", "batches", "horizons", "lrs", "seeds", "warmup"):
        if getattr(args, name) is not None:
            sizes[name] = getattr(args, name)
    default = {
        "quick": "horizon_grid_quick",
        "cpu": "horizon_grid",
        "cpu-long": "horizon_grid_long",
        "cpu-4000": "horizon_grid_4000",
        "gpu": "horizon_grid_gpu",
        "gpu-width": "horizon_grid_gpu_width",
    }
    suffix = "" if args.schedule == "wsd" else f"_{args.schedule}"
    out = Path(args.out or results_dir(default[size] + suffix))
    out.mkdir(parents=True, exist_ok=True)
    base_width = args.base_width or sizes.get("base_width") or min(_ints(sizes["widths"]))
    windows = {} if args.lrs is not None else sizes.get("lr_windows", {})
    runs = schedule_runs(
        _ints(sizes["horizons"]), int(sizes["warmup"]), args.schedule, args.decay_fraction
    )
    configs = [
        cfg
        for batch in _ints(sizes["batches"])
        for horizons, fraction in runs
        for cfg in grid(
            _ints(sizes["widths"]),
            [batch],
            lr_grid(windows.get(str(batch), sizes["lrs"])),
            args.first_seed + int(sizes["seeds"]),
            horizons=horizons,
            warmup=int(sizes["warmup"]),
            weight_decay=args.weight_decay,
            scheme=args.scheme,
            base_width=base_width,
            decay_fraction=fraction,
            corpus=args.corpus,
            device=args.device,
        )
        if cfg.seed >= args.first_seed
    ]
    started = time.time()
    command = "python experiments/horizon_grid.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    config = {**vars(args), "sizes": sizes, "base_width": base_width, "runs": len(configs)}
    if not args.summary_only:
        save_json(
            out / "config.json",
            config,
            command=command.strip(),  # written before the runs: no wall time (summary.json's)
            device=device_name(args.device),  # the workers' device, not this driver's
        )
    if not args.summary_only and args.batched:
        from abcparam.transfer.horizon_batched import run_grid_batched

        run_grid_batched(configs, out / "runs.jsonl", workers=args.workers)
    elif not args.summary_only:
        run_grid(configs, out / "runs.jsonl", workers=args.workers)
    # every saved run of this grid's settings, also those at LRs outside the current windows
    wanted = {(c.width, c.batch, c.seed, c.horizons, c.warmup, c.weight_decay) for c in configs}
    rows = [
        r
        for r in finished(out / "runs.jsonl").values()
        if (r["width"], r["batch"], r["seed"], tuple(r["horizons"]), r["warmup"], r["weight_decay"])
        in wanted
    ]
    summary = summarise(rows)
    save_json(out / "summary.json", summary, command=command.strip(), started=started)
    (out / "summary.md").write_text(markdown(summary))
    from abcparam.transfer.horizon_sensitivity import sensitivity_markdown, sensitivity_summary

    lr_windows = {b: lr_grid(windows.get(str(b), sizes["lrs"])) for b in _ints(sizes["batches"])}
    sens = sensitivity_summary(rows, lr_windows)
    save_json(out / "sensitivity.json", sens, command=command.strip(), started=started)
    (out / "sensitivity.md").write_text(sensitivity_markdown(sens))
    targets = args.targets or sizes.get("targets")
    if targets and args.schedule == "wsd":
        from abcparam.transfer.critical_batch import critical_batch, critical_markdown

        crit = critical_batch(rows, [float(x) for x in targets.split(",")])
        save_json(out / "critical_batch.json", crit, command=command.strip(), started=started)
        (out / "critical_batch.md").write_text(critical_markdown(crit))
    return 0


def late(args: argparse.Namespace, size: str, argv: list[str] | None) -> int:
    """The late-training check: one long warmup-stable run per (width, convention, seed) with the
    relative update of every hidden layer recorded; judged against √(2d) per layer."""
    from abcparam.coordcheck.judge import rule_text
    from abcparam.transfer.horizon import HorizonRun, finished, run_grid
    from abcparam.transfer.horizon_fit import late_training_check, late_width_slopes

    plans: dict[str, Any] = {"quick": {"widths": "16,32", "steps": 20}, **LATE}
    if size not in plans:
        raise SystemExit(f"--late --size {size}: accepted sizes {', '.join(plans)}")
    plan = plans[size]
    widths = _ints(args.widths or plan["widths"])
    seeds = args.seeds or (1 if size == "quick" else 3)
    out = Path(args.out or results_dir(f"horizon_late_{size}"))
    out.mkdir(parents=True, exist_ok=True)
    steps = int(plan["steps"])
    configs = [
        HorizonRun(
            width=w,
            batch=8 if size != "quick" else 2,
            log2_lr=-7.0,
            seed=s,
            horizons=(steps,),
            warmup=args.warmup or max(2, steps // 50),
            weight_decay=args.weight_decay if convention == "coupled" else 1e-3,
            convention=convention,
            base_width=args.base_width or min(widths),
            curve_every=max(1, steps // 100),
            record_updates=True,
            device=args.device,
            val_windows=32,
        )
        for convention in ("coupled", "independent")
        for w in widths
        for s in range(seeds)
    ]
    started = time.time()
    command = (
        "python experiments/horizon_grid.py " + " ".join(sys.argv[1:] if argv is None else argv)
    ).strip()
    if not args.summary_only:
        save_json(
            out / "config.json",
            {"plan": plan, "widths": widths, "seeds": seeds, "runs": len(configs)},
            command=command,
            device=device_name(args.device),  # the workers' device, not this driver's
        )
    rows = (
        [finished(out / "runs.jsonl")[c.key] for c in configs]
        if args.summary_only
        else run_grid(configs, out / "runs.jsonl", workers=args.workers)
    )
    checks = [
        {"width": r["width"], "convention": r["convention"], "seed": r["seed"], "layers": c}
        for r in rows
        for c in [late_training_check(r)]
    ]
    summary = {"checks": checks, "width_slopes": late_width_slopes(checks), "rule": rule_text()}
    save_json(out / "summary.json", summary, command=command, started=started)
    return 0


def load_summary(out: Path | None = None) -> dict:
    """The saved summary (for the book)."""
    return load_json((out or results_dir("horizon_grid")) / "summary.json")
