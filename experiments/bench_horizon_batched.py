"""Benchmark: a horizon-grid cell trained as separate runs vs batched (logic: experiments.lab.bench_horizon_batched).

Run: ``python experiments/bench_horizon_batched.py [--help]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.bench_horizon_batched import main

if __name__ == "__main__":
    raise SystemExit(main())
