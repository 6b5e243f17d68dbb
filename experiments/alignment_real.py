"""Alignment on real data: alpha, omega, u over training on digits and the pydoc text, with
shuffled-target and random-input controls (logic: experiments.lab.alignment_real).

Run: ``python experiments/alignment_real.py --task mlp --out experiments/results/alignment_real/mlp``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.alignment_real import main

if __name__ == "__main__":
    raise SystemExit(main())
