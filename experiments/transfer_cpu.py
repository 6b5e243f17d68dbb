"""CPU muTransfer sweep: MLP on sklearn digits, Adam, widths 64..512, log2 LR -12..-2, 2 seeds.

Run: ``python experiments/transfer_cpu.py`` (resumable; results in
experiments/results/transfer_cpu/).  A GPU version: the same CLI with ``--device cuda`` and
widths to 4096 (``abcparam sweep --model transformer --widths 256,...,4096 --device cuda``).
"""

import platform
import sys
import time
from pathlib import Path

from abcparam.cli import main

OUT = Path(__file__).parent / "results" / "transfer_cpu"

if __name__ == "__main__":
    t0 = time.perf_counter()
    code = main(
        [
            "sweep",
            "--model",
            "mlp",
            "--schemes",
            "sp-global,sp,mup,u-mup",
            "--optimizer",
            "adam",
            "--widths",
            "64,128,256,512",
            "--lrs=-12:-2",
            "--seeds",
            "2",
            "--steps",
            "200",
            "--out",
            str(OUT),
        ]
        + sys.argv[1:]
    )
    (OUT / "machine.txt").write_text(
        f"command: python experiments/transfer_cpu.py {' '.join(sys.argv[1:])}\n"
        f"machine: {platform.machine()}, Python {platform.python_version()}, CPU only (2 cores)\n"
        f"wall time: {time.perf_counter() - t0:.0f} s\n"
    )
    sys.exit(code)
