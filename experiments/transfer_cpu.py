"""CPU muTransfer sweep: MLP on sklearn digits, Adam, widths 64..512, log2 LR -12..-2, 2 seeds. (logic: experiments.lab.transfer_cpu).

Run: ``python experiments/transfer_cpu.py [--help]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the lab

from experiments.lab.transfer_cpu import main

if __name__ == "__main__":
    if {"-h", "--help"} & set(sys.argv[1:]):  # help, never a sweep
        print(__doc__.strip())
        print("Options (e.g. --workers 1) go to abcparam sweep; see 'abcparam sweep --help'.")
        raise SystemExit(0)
    raise SystemExit(main(sys.argv[1:]))
