"""Predicted vs measured FP8 out-of-range fractions (logic: abcparam.experiments.precision_ranges).

Run: ``python experiments/precision_ranges.py [--quick]``.
"""

from abcparam.experiments.precision_ranges import main

if __name__ == "__main__":
    raise SystemExit(main())
