"""Adam's epsilon before it emerges: forecast from the base width, seen in LR-vs-loss curves
(logic: experiments.lab.forecasts_epsilon).

Run: ``python experiments/forecasts_epsilon.py [--preset cpu|quick|gpu] [--analyse]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.forecasts_epsilon import main

if __name__ == "__main__":
    raise SystemExit(main())
