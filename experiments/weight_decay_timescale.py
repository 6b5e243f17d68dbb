"""The AdamW weight-decay timescale τ_epoch = B/(ηλD) on the character-level GPT (logic:
experiments.lab.weight_decay_timescale).

Run: ``python experiments/weight_decay_timescale.py [--quick]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.weight_decay_timescale import main

if __name__ == "__main__":
    raise SystemExit(main())
