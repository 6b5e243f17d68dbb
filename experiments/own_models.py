"""Coordinate checks on Hugging Face GPT-2/Llama, a CNN and an nn.MultiheadAttention transformer,
SP/muP/u-muP x Adam/AdamW, with a mup get_coord_data cross-check.

Run: ``python experiments/own_models.py [--quick]``; logic in :mod:`experiments.lab.own_models`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.own_models import main

if __name__ == "__main__":
    sys.exit(main())
