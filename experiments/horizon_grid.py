"""η* against horizon and batch size on the character-level GPT (logic:
abcparam.experiments.horizon_grid).

Run: ``python experiments/horizon_grid.py [--quick]``.
"""

from abcparam.experiments.horizon_grid import main

if __name__ == "__main__":
    raise SystemExit(main())
