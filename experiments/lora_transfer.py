"""LoRA on real text: coordinate check in width and rank, LR transfer across rank and width
(logic: experiments.lab.lora_transfer).

Run: ``python experiments/lora_transfer.py [--part check|sweep|all] [--quick]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.lora_transfer import main

if __name__ == "__main__":
    raise SystemExit(main())
