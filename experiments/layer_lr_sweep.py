"""One layer kind's learning rate swept alone across widths (logic:
experiments.lab.layer_lr_sweep).

Run: ``python experiments/layer_lr_sweep.py --task mlp --kinds hidden --schemes sp``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.layer_lr_sweep import main

if __name__ == "__main__":
    raise SystemExit(main())
