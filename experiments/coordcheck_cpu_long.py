"""Coordinate checks over 100 steps on a fresh batch each step (closer to real training than the (logic: abcparam.experiments.coordcheck_cpu_long).

Run: ``python experiments/coordcheck_cpu_long.py [--help]``.
"""

from abcparam.experiments.coordcheck_cpu_long import main

if __name__ == "__main__":
    raise SystemExit(main())
