"""Benchmark (issue 28): a batched LR sweep vs one run after another (logic:
abcparam.experiments.bench_batched_sweep).

Run: ``python experiments/bench_batched_sweep.py [--quick]``.
"""

import os

# before torch loads: idle OpenMP threads sleep instead of spinning (a loaded 2-core machine)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from abcparam.experiments.bench_batched_sweep import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
