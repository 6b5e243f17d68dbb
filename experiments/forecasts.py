"""Forecasts on the character-level GPT (logic: abcparam.experiments.forecasts).

Run: ``python experiments/forecasts.py [--preset cpu|quick|gpu] [--phase tune,scale,sensitivity]``.
"""

from abcparam.experiments.forecasts import main

if __name__ == "__main__":
    raise SystemExit(main())
