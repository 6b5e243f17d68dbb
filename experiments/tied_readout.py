"""Own-token and other logits of a tied Hugging Face readout at init, widths 128-1024: why the
tied readout's output does not fall like n^-1/2.

Run: ``python experiments/tied_readout.py [--quick]``; logic in :mod:`experiments.lab.tied_readout`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.tied_readout import main

if __name__ == "__main__":
    sys.exit(main())
