"""The claims ledger (experiments/claims.toml): every quoted number recomputed from its raw files
(logic: abcparam.experiments.claims).

Run: ``python experiments/claims.py [ID ...]``.
"""

from abcparam.experiments.claims import main

if __name__ == "__main__":
    raise SystemExit(main())
