"""Depth coordinate checks (logic: experiments.lab.depth_checks).

Run: ``python experiments/depth_checks.py [--quick]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.depth_checks import main

if __name__ == "__main__":
    raise SystemExit(main())
