"""The other CPU sweeps of the transfer issue: Adam-atan2 on the MLP (digits), and Adam on the (logic: abcparam.experiments.transfer_cpu_extra).

Run: ``python experiments/transfer_cpu_extra.py [--help]``.
"""

from abcparam.experiments.transfer_cpu_extra import main

if __name__ == "__main__":
    raise SystemExit(main())
