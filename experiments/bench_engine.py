"""Benchmark (issue: engine speed): every scheme x optimizer x named alignment the engine (logic: experiments.lab.bench_engine).

Run: ``python experiments/bench_engine.py [--help]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.bench_engine import main

if __name__ == "__main__":
    raise SystemExit(main())
