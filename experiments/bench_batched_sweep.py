"""Benchmark (issue 28): a batched LR sweep vs one run after another (logic:
experiments.lab.bench_batched_sweep).

Run: ``python experiments/bench_batched_sweep.py [--quick] [--omp-wait-policy PASSIVE]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.bench_batched_sweep import main, wait_policy_from_argv  # noqa: E402

if __name__ == "__main__":
    wait_policy_from_argv(sys.argv)  # before torch loads: OpenMP reads it once
    raise SystemExit(main())
