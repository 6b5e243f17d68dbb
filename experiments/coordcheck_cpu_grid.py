"""The CPU acceptance grid of the coordinate-check issue, saved under experiments/results/. (logic: abcparam.experiments.coordcheck_cpu_grid).

Run: ``python experiments/coordcheck_cpu_grid.py [--help]``.
"""

from abcparam.experiments.coordcheck_cpu_grid import main

if __name__ == "__main__":
    raise SystemExit(main())
