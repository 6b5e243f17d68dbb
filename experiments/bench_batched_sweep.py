"""Benchmark (issue 28): a batched LR sweep vs one run after another (logic:
abcparam.experiments.bench_batched_sweep).

Run: ``python experiments/bench_batched_sweep.py [--quick]``.
"""

from abcparam.experiments.bench_batched_sweep import main

if __name__ == "__main__":
    raise SystemExit(main())
