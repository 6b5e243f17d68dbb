"""Every Hugging Face decoder/encoder family from a small config: parametrize + a one-step
coordinate check, or the one-line error naming what is unsupported.

Run: ``python experiments/families.py``; logic in :mod:`experiments.lab.families`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.families import main

if __name__ == "__main__":
    sys.exit(main())
