"""Coordinate checks over 100 steps on a fresh batch each step (closer to real training than the (logic: experiments.lab.coordcheck_cpu_long).

Run: ``python experiments/coordcheck_cpu_long.py [--help]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.coordcheck_cpu_long import main

if __name__ == "__main__":
    raise SystemExit(main())
