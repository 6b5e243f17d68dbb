"""LR transfer under muP with Muon (spectral/entry tables, both scalings), Lion and Adam: MLP on digits and the character-level GPT. (logic: experiments.lab.muon_lion_transfer).

Run: ``python experiments/muon_lion_transfer.py [--help]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.muon_lion_transfer import main

if __name__ == "__main__":
    raise SystemExit(main())
