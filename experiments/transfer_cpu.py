"""CPU muTransfer sweep: MLP on sklearn digits, Adam, widths 64..512, log2 LR -12..-2, 2 seeds.

Run: ``python experiments/transfer_cpu.py`` (resumable; results in
experiments/results/transfer_cpu/, provenance in its config.json).  A GPU version: the same CLI with ``--device cuda`` and
widths to 4096 (``abcparam sweep --model transformer --widths 256,...,4096 --device cuda``).
"""

import sys
from pathlib import Path

from abcparam.cli import main

OUT = Path(__file__).parent / "results" / "transfer_cpu"

if __name__ == "__main__":
    code = main(
        [
            "sweep",
            "--model",
            "mlp",
            "--schemes",
            "sp-constant-lr,sp,mup,u-mup",
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
    sys.exit(code)
