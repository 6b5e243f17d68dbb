"""How alignment evolves over training (issue: alignment-aware coordinate checks). (logic: abcparam.experiments.alignment_evolution).

Run: ``python experiments/alignment_evolution.py [--help]``.
"""

from abcparam.experiments.alignment_evolution import main

if __name__ == "__main__":
    raise SystemExit(main())
