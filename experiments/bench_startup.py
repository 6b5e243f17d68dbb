"""Benchmark (issue 29, item 6): seconds from process start to the first training step of
``abcparam coord-check`` on the built-in GPT (logic: abcparam.experiments.bench_startup).

Run: ``python experiments/bench_startup.py [--repeats 5] [--out DIR] [-- extra coord-check args]``.
"""

from abcparam.experiments.bench_startup import main

if __name__ == "__main__":
    raise SystemExit(main())
