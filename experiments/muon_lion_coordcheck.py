"""Coordinate checks with Muon and Lion (MLP full/low rank, GPT, 100 fresh-batch steps) and the measured alignment of Muon's updates. (logic: experiments.lab.muon_lion_coordcheck).

Run: ``python experiments/muon_lion_coordcheck.py [--help]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.muon_lion_coordcheck import main

if __name__ == "__main__":
    raise SystemExit(main())
