"""The claims ledger (experiments/claims.toml): every quoted number recomputed from its raw files
(logic: experiments.lab.claims).

Run: ``python experiments/claims.py [ID ...]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.claims import main

if __name__ == "__main__":
    raise SystemExit(main())
