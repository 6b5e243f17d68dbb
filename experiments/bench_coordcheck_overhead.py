"""Benchmark: coordinate-check cost vs bare steps and vs mup's get_coord_data (interleaved).

Run: ``python experiments/bench_coordcheck_overhead.py [--quick] [--repeats N]``.  The logic is
:mod:`abcparam.experiments.bench_coordcheck`.
"""

from __future__ import annotations

import sys

from abcparam.experiments.bench_coordcheck import main

if __name__ == "__main__":
    sys.exit(main())
