"""Depth transfer sweep on the character-level GPT (logic: abcparam.experiments.depth_transfer).

Run: ``python experiments/depth_transfer.py [--quick]``.
"""

from abcparam.experiments.depth_transfer import main

if __name__ == "__main__":
    raise SystemExit(main())
