"""Coordinate checks with Muon and Lion (MLP full/low rank, GPT, 100 fresh-batch steps) and the measured alignment of Muon's updates. (logic: abcparam.experiments.muon_lion_coordcheck).

Run: ``python experiments/muon_lion_coordcheck.py [--help]``.
"""

from abcparam.experiments.muon_lion_coordcheck import main

if __name__ == "__main__":
    raise SystemExit(main())
