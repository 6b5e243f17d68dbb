"""Coordinate checks on Hugging Face GPT-2/Llama, a CNN and an nn.MultiheadAttention transformer,
SP/muP/u-muP x Adam/AdamW, with a mup get_coord_data cross-check.

Run: ``python experiments/own_models.py [--quick]``; logic in :mod:`abcparam.experiments.own_models`.
"""

from __future__ import annotations

import sys

from abcparam.experiments.own_models import main

if __name__ == "__main__":
    sys.exit(main())
