"""Depth coordinate checks (logic: abcparam.experiments.depth_checks).

Run: ``python experiments/depth_checks.py [--quick]``.
"""

from abcparam.experiments.depth_checks import main

if __name__ == "__main__":
    raise SystemExit(main())
