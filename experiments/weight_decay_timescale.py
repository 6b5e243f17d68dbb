"""The AdamW weight-decay timescale τ_epoch = B/(ηλD) on the character-level GPT (logic:
abcparam.experiments.weight_decay_timescale).

Run: ``python experiments/weight_decay_timescale.py [--quick]``.
"""

from abcparam.experiments.weight_decay_timescale import main

if __name__ == "__main__":
    raise SystemExit(main())
