"""Every Hugging Face decoder/encoder family from a small config: parametrize + a one-step
coordinate check, or the one-line error naming what is unsupported.

Run: ``python experiments/families.py``; logic in :mod:`abcparam.experiments.families`.
"""

from __future__ import annotations

import sys

from abcparam.experiments.families import main

if __name__ == "__main__":
    sys.exit(main())
