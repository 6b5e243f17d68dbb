"""LR transfer under muP with Muon (spectral/entry tables, both scalings), Lion and Adam: MLP on digits and the character-level GPT. (logic: abcparam.experiments.muon_lion_transfer).

Run: ``python experiments/muon_lion_transfer.py [--help]``.
"""

from abcparam.experiments.muon_lion_transfer import main

if __name__ == "__main__":
    raise SystemExit(main())
