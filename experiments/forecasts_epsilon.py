"""Adam's epsilon before it emerges: forecast from the base width, seen in LR-vs-loss curves
(logic: abcparam.experiments.forecasts_epsilon).

Run: ``python experiments/forecasts_epsilon.py [--preset cpu|quick|gpu] [--analyse]``.
"""

from abcparam.experiments.forecasts_epsilon import main

if __name__ == "__main__":
    raise SystemExit(main())
