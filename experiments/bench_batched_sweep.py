"""Benchmark (issue 28): a batched LR sweep vs one run after another (logic:
experiments.lab.bench_batched_sweep).

Run: ``python experiments/bench_batched_sweep.py [--quick]``.
"""

import os
import sys
from pathlib import Path

# before torch loads: idle OpenMP threads sleep instead of spinning (a loaded 2-core machine)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.bench_batched_sweep import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
