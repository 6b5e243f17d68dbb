"""Benchmark: one horizon-grid cell (7 LRs x 3 seeds of the character-level GPT, μP, AdamW,
warmup-stable-decay with two decay branches) trained as separate runs on the grid's process
pool (:func:`~abcparam.transfer.horizon.run_grid`) vs as batched models on the same pool
(:func:`~abcparam.transfer.horizon_batched.run_grid_batched`), per width, interleaved repeats.

Wall time on both cores is what a user waits for; each repeat records the machine's load, since
on a shared CPU the ratio, not the seconds, is the result.  ``fidelity`` is the largest
difference of any run's validation loss at any horizon between the two paths.
Run: ``python experiments/bench_horizon_batched.py [--quick]``; raw timings in
experiments/results/bench_horizon_batched/timings.json.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from abcparam.records import save_json
from experiments.lab.paths import results_dir

OUT = "bench_horizon_batched"
#: the grid's cell: widths, batch (sequences), log2 LRs, seeds, horizons, warmup
FULL = {"widths": (64, 128, 256), "batch": 16, "lrs": 7, "seeds": 3, "horizons": (50, 100)}
QUICK = {"widths": (16,), "batch": 2, "lrs": 2, "seeds": 1, "horizons": (4, 8)}


def cell(width: int, plan: dict) -> list:
    """One grid cell's runs at ``width`` (base width 32, the CPU grid's LR window's size)."""
    from abcparam.transfer.horizon import grid

    lrs = [-8.0 + 0.5 * i for i in range(plan["lrs"])]
    return grid(
        [width],
        [plan["batch"]],
        lrs,
        plan["seeds"],
        horizons=plan["horizons"],
        warmup=min(10, plan["horizons"][0] // 2),
        base_width=min(32, width),
    )


def measure(width: int, plan: dict, repeats: int, workers: int) -> dict:
    """Interleaved wall times of both paths for one width, and their largest loss difference."""
    from abcparam.transfer.horizon import run_grid
    from abcparam.transfer.horizon_batched import run_grid_batched

    configs = cell(width, plan)
    times: dict[str, list[float]] = {"separate_s": [], "batched_s": []}
    load: list[float] = []
    rows: dict[str, list[dict]] = {}
    for _ in range(repeats):
        for name, run in (("separate", run_grid), ("batched", run_grid_batched)):
            with tempfile.TemporaryDirectory() as tmp:
                load.append(os.getloadavg()[0])
                start = time.perf_counter()
                rows[name] = run(configs, Path(tmp) / "runs.jsonl", workers=workers, progress=False)
                times[f"{name}_s"].append(time.perf_counter() - start)
    gaps = [
        abs(a["results"][h]["val_loss"] - b["results"][h]["val_loss"])
        for a, b in zip(rows["separate"], rows["batched"], strict=True)
        for h in a["results"]
        if math.isfinite(a["results"][h]["val_loss"])
    ]
    sep, bat = statistics.median(times["separate_s"]), statistics.median(times["batched_s"])
    return {
        "width": width,
        "batch": plan["batch"],
        "runs": len(configs),
        **times,
        "median_separate_s": sep,
        "median_batched_s": bat,
        "speedup_of_medians": sep / bat,
        "load_avg_1min": load,
        "fidelity_max_abs_val_loss": max(gaps, default=math.nan),
        "finite_results": len(gaps),
    }


def markdown(rows: list[dict]) -> str:
    lines = [
        "| width | batch | runs | separate (s) | batched (s) | speed-up | max |Δ val loss| | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['width']} | {r['batch']} | {r['runs']} | {r['median_separate_s']:.1f} | "
            f"{r['median_batched_s']:.1f} | {r['speedup_of_medians']:.2f}x | "
            f"{r['fidelity_max_abs_val_loss']:.1e} | "
            f"{min(r['load_avg_1min']):.1f}-{max(r['load_avg_1min']):.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a seconds-long smoke version")
    p.add_argument("--repeats", type=int, default=None, help="default: 2 (quick: 1)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--widths", default=None, help="comma-separated (default: 64,128,256)")
    p.add_argument("--batch", type=int, default=None, help="sequences a step (default: 16)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    plan = dict(QUICK if args.quick else FULL)
    if args.widths:
        plan["widths"] = tuple(int(w) for w in args.widths.split(","))
    if args.batch:
        plan["batch"] = args.batch
    repeats = args.repeats or (1 if args.quick else 2)
    out = Path(args.out or results_dir(OUT + ("_quick" if args.quick else "")))
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    from tqdm.std import tqdm

    rows = [
        measure(w, plan, repeats, args.workers) for w in tqdm(plan["widths"], desc="bench widths")
    ]
    command = "python experiments/bench_horizon_batched.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    payload = {
        "plan": {**plan, "repeats": repeats, "workers": args.workers},
        "cpu_count": os.cpu_count(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "benchmarks": rows,
    }
    save_json(out / "timings.json", payload, command=command.strip(), started=started)
    (out / "timings.md").write_text(markdown(rows))
    return 0
