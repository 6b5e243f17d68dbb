"""η* against horizon and batch size on the character-level GPT (logic:
experiments.lab.horizon_grid).

Run: ``python experiments/horizon_grid.py [--quick]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.horizon_grid import main

if __name__ == "__main__":
    raise SystemExit(main())
