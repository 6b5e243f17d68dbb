"""LoRA on real text: coordinate check in width and rank, LR transfer across rank and width
(logic: abcparam.experiments.lora_transfer).

Run: ``python experiments/lora_transfer.py [--part check|sweep|all] [--quick]``.
"""

from abcparam.experiments.lora_transfer import main

if __name__ == "__main__":
    raise SystemExit(main())
