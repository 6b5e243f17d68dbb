"""How discriminating is the coordinate check?  Train with a deliberately wrong table, judge it (logic: experiments.lab.wrong_rules_cpu).

Run: ``python experiments/wrong_rules_cpu.py [--help]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.wrong_rules_cpu import main

if __name__ == "__main__":
    raise SystemExit(main())
