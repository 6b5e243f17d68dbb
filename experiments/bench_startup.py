"""Benchmark (issue 29, item 6): seconds from process start to the first training step of
``abcparam coord-check`` on the built-in GPT (logic: experiments.lab.bench_startup).

Run: ``python experiments/bench_startup.py [--repeats 5] [--out DIR] [-- extra coord-check args]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.bench_startup import main

if __name__ == "__main__":
    raise SystemExit(main())
