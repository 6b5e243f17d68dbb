"""Simulated FP8 / bf16 training gap to fp32 (logic: experiments.lab.precision_training).

Run: ``python experiments/precision_training.py [--quick]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.precision_training import main

if __name__ == "__main__":
    raise SystemExit(main())
