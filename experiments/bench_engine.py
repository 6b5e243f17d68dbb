"""Benchmark (issue: engine speed): all 5 schemes x 4 optimizers x {full, none} from a cold import,
and the cost of a repeated (cached) query.  Run: ``python experiments/bench_engine.py``.

Each figure is measured in a fresh interpreter so the import is really cold.
"""

from __future__ import annotations

import json
import subprocess
import sys

COLD = r"""
import json, time
t0 = time.perf_counter()
import abcparam
t1 = time.perf_counter()
for s in ["sp", "ntp", "mfp", "mup", "u-mup"]:
    for o in ["sgd", "adam", "adafactor", "adam-atan2"]:
        for a in ["full", "none"]:
            abcparam.rules(s, optimizer=o, alignment=a)
t2 = time.perf_counter()
n = 10000
for _ in range(n):
    abcparam.rules("u-mup", optimizer="adam")
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "derive_40_s": t2 - t1, "total_cold_s": t2 - t0,
                  "repeat_query_ms": (t3 - t2) / n * 1e3}))
"""


def main() -> None:
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", COLD], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(3)
    ]
    best = {key: min(r[key] for r in runs) for key in runs[0]}
    worst = {key: max(r[key] for r in runs) for key in runs[0]}
    print(
        f"cold import + 40 derivations: {best['total_cold_s']:.2f} s best, "
        f"{worst['total_cold_s']:.2f} s worst of 3 (import {best['import_s']:.2f} s, "
        f"derivations {best['derive_40_s']:.2f} s)  [target < 2 s]"
    )
    print(f"repeated query: {best['repeat_query_ms'] * 1e3:.1f} µs  [target < 1 ms]")


if __name__ == "__main__":
    main()
