"""Adam's epsilon at width: predicted vs measured crossover, and both cures (issue: Adam epsilon). (logic: experiments.lab.epsilon_underflow).

Run: ``python experiments/epsilon_underflow.py [--help]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.epsilon_underflow import main

if __name__ == "__main__":
    raise SystemExit(main())
