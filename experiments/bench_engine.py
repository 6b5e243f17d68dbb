"""Benchmark (issue: engine speed): every scheme x optimizer x named alignment the engine (logic: abcparam.experiments.bench_engine).

Run: ``python experiments/bench_engine.py [--help]``.
"""

from abcparam.experiments.bench_engine import main

if __name__ == "__main__":
    raise SystemExit(main())
