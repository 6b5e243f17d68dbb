"""Forecasts on the character-level GPT (logic: experiments.lab.forecasts).

Run: ``python experiments/forecasts.py [--preset cpu|quick|gpu] [--phase tune,scale,sensitivity]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.forecasts import main

if __name__ == "__main__":
    raise SystemExit(main())
