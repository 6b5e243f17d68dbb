"""The CPU acceptance grid of the coordinate-check issue, saved under experiments/results/. (logic: experiments.lab.coordcheck_cpu_grid).

Run: ``python experiments/coordcheck_cpu_grid.py [--help]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.coordcheck_cpu_grid import main

if __name__ == "__main__":
    raise SystemExit(main())
