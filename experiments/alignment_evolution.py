"""How alignment evolves over training (issue: alignment-aware coordinate checks). (logic: experiments.lab.alignment_evolution).

Run: ``python experiments/alignment_evolution.py [--help]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.alignment_evolution import main

if __name__ == "__main__":
    raise SystemExit(main())
