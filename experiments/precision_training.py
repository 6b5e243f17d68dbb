"""Simulated FP8 / bf16 training gap to fp32 (logic: abcparam.experiments.precision_training).

Run: ``python experiments/precision_training.py [--quick]``.
"""

from abcparam.experiments.precision_training import main

if __name__ == "__main__":
    raise SystemExit(main())
