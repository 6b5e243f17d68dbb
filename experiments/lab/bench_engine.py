"""Benchmark (issue: engine speed): every scheme x optimizer x named alignment the engine
registers (abcparam.SCHEMES, abcparam.OPTIMIZERS; new ones join automatically) from a cold import,
and the cost of a repeated (cached) query.  Run: ``python experiments/bench_engine.py`` (logic here).

Each figure is measured in a fresh interpreter so the import is really cold.  The runs are saved
to experiments/results/bench_engine/results.json (with the machine in their provenance): a
timing is quoted only from there (claims ledger).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

COLD = r"""
import json, time
t0, c0 = time.perf_counter(), time.process_time()
import abcparam
t1, c1 = time.perf_counter(), time.process_time()
from abcparam.engine.alignment import NAMED
count = 0
for s in abcparam.SCHEMES:
    for o in abcparam.OPTIMIZERS:
        for a in NAMED:
            try:
                abcparam.rules(s, optimizer=o, alignment=a)
            except abcparam.NoStableParametrization:
                pass  # derived: this combination has no stable rules (still a derivation)
            count += 1
t2, c2 = time.perf_counter(), time.process_time()
n = 10000
for _ in range(n):
    abcparam.rules("u-mup", optimizer="adam")
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "derive_s": t2 - t1, "total_cold_s": t2 - t0, "count": count, "cpu_import_s": c1 - c0, "cpu_derive_s": c2 - c1, "cpu_total_s": c2 - c0,
                  "repeat_query_ms": (t3 - t2) / n * 1e3}))
"""


def main(argv: list[str] | None = None) -> int:
    """Print the timings and save every run (timings belong to the machine: see provenance)."""
    import argparse
    import time

    from abcparam.records import save_json
    from experiments.lab.paths import results_dir

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3, help="fresh interpreters (default 3)")
    parser.add_argument("--out", default=None, help="default: experiments/results/bench_engine")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        raise ValueError(f"--repeats {args.repeats}; accepted: an integer >= 1")
    started = time.time()
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", COLD], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(args.repeats)
    ]
    best = {key: min(r[key] for r in runs) for key in runs[0]}
    worst = {key: max(r[key] for r in runs) for key in runs[0]}
    print(
        f"cold import + all {runs[0]['count']} scheme x optimizer x alignment derivations: "
        f"{best['total_cold_s']:.2f} s best, {worst['total_cold_s']:.2f} s worst of {len(runs)} (import "
        f"{best['import_s']:.2f} s, derivations {best['derive_s']:.2f} s)  [target < 2 s]"
    )
    print(
        f"CPU time of the same (steadier on a shared machine): {best['cpu_total_s']:.2f} s best, "
        f"{worst['cpu_total_s']:.2f} s worst (import {best['cpu_import_s']:.2f} s, derivations "
        f"{best['cpu_derive_s']:.2f} s)"
    )
    print(f"repeated query: {best['repeat_query_ms'] * 1e3:.1f} µs  [target < 1 ms]")
    out = Path(args.out) if args.out else results_dir("bench_engine")
    print("saved", save_json(out / "results.json", {"runs": runs}, started=started))
    return 0
