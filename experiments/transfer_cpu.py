"""CPU muTransfer sweep: MLP on sklearn digits, Adam, widths 64..512, log2 LR -12..-2, 2 seeds. (logic: abcparam.experiments.transfer_cpu).

Run: ``python experiments/transfer_cpu.py [--help]``.
"""

from abcparam.experiments.transfer_cpu import main

if __name__ == "__main__":
    raise SystemExit(main())
