"""Lion's accumulated update on the character-level GPT over fresh batches of real text, against
the random-token control.

Run: ``python experiments/lion_real_data.py [--quick]``; logic in :mod:`experiments.lab.lion_real_data`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.lion_real_data import main

if __name__ == "__main__":
    sys.exit(main())
