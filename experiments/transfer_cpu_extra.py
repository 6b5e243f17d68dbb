"""The other CPU sweeps of the transfer issue: Adam-atan2 on the MLP (digits), and Adam on the (logic: experiments.lab.transfer_cpu_extra).

Run: ``python experiments/transfer_cpu_extra.py [--help]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.transfer_cpu_extra import main

if __name__ == "__main__":
    if {"-h", "--help"} & set(sys.argv[1:]):  # help, never a sweep
        print(__doc__.strip())
        print("Options (e.g. --workers 1) go to each abcparam sweep; see 'abcparam sweep --help'.")
        raise SystemExit(0)
    raise SystemExit(main(sys.argv[1:]))
