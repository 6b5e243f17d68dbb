"""Issue-28 reruns: adaptive batched LR sweeps with bootstrap intervals and transfer regret
(logic: experiments.lab.regret_sweeps).

Run: ``python experiments/regret_sweeps.py {width-mlp,width-gpt,depth-gpt,muon-lion-mlp,muon-lion-gpt}``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.regret_sweeps import main

if __name__ == "__main__":
    raise SystemExit(main())
