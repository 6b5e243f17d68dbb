"""CPU muTransfer sweep: MLP on sklearn digits, Adam, widths 64..512, log2 LR -12..-2, 2 seeds.

Run: ``python experiments/transfer_cpu.py`` (resumable; results in experiments/results/transfer_cpu/,
provenance in its config.json).  A GPU version: the same CLI with ``--device cuda`` and widths to
4096 (``abcparam sweep --model transformer --widths 256,...,4096 --device cuda``).
"""

from __future__ import annotations

from experiments.lab.paths import results_dir

ARGS = [
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
]


def main(argv: list[str] | None = None) -> int:
    """Run the sweep; extra ``argv`` (e.g. ``--out DIR``, ``--workers 1``) go to ``abcparam sweep``."""
    from abcparam.cli import main as cli

    extra = list(argv or [])
    out = [] if "--out" in extra else ["--out", str(results_dir("transfer_cpu"))]
    return cli(["sweep", *ARGS, *out, *extra])
