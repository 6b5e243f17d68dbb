"""Adam's epsilon at width: predicted vs measured crossover, and both cures (issue: Adam epsilon). (logic: abcparam.experiments.epsilon_underflow).

Run: ``python experiments/epsilon_underflow.py [--help]``.
"""

from abcparam.experiments.epsilon_underflow import main

if __name__ == "__main__":
    raise SystemExit(main())
