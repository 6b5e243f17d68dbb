"""Predicted vs measured FP8 out-of-range fractions (logic: experiments.lab.precision_ranges).

Run: ``python experiments/precision_ranges.py [--quick]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.precision_ranges import main

if __name__ == "__main__":
    raise SystemExit(main())
