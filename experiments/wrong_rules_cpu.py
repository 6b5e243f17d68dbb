"""How discriminating is the coordinate check?  Train with a deliberately wrong table, judge it (logic: abcparam.experiments.wrong_rules_cpu).

Run: ``python experiments/wrong_rules_cpu.py [--help]``.
"""

from abcparam.experiments.wrong_rules_cpu import main

if __name__ == "__main__":
    raise SystemExit(main())
