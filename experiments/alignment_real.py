"""Alignment on real data: alpha, omega, u over training on digits and the pydoc text, with
shuffled-target and random-input controls (logic: abcparam.experiments.alignment_real).

Run: ``python experiments/alignment_real.py --task mlp --out experiments/results/alignment_real/mlp``.
"""

from abcparam.experiments.alignment_real import main

if __name__ == "__main__":
    raise SystemExit(main())
