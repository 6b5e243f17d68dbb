"""Depth transfer sweep on the character-level GPT (logic: experiments.lab.depth_transfer).

Run: ``python experiments/depth_transfer.py [--quick]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.depth_transfer import main

if __name__ == "__main__":
    raise SystemExit(main())
