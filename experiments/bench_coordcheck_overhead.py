"""Benchmark: coordinate-check cost vs bare steps and vs mup's get_coord_data (interleaved).

Run: ``python experiments/bench_coordcheck_overhead.py [--quick] [--repeats N]``.  The logic is
:mod:`experiments.lab.bench_coordcheck`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.bench_coordcheck import main

if __name__ == "__main__":
    sys.exit(main())
