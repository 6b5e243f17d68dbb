"""The other CPU sweeps of the transfer issue: Adam-atan2 on the MLP (digits), and Adam on the
character-level GPT (pydoc text, widths 64..256, 150 steps).  Resumable.
Run: ``python experiments/transfer_cpu_extra.py``; results in experiments/results/transfer_cpu_*.
"""

from __future__ import annotations

from experiments.lab.paths import results_dir

SWEEPS = {
    "transfer_cpu_mlp_atan2": [
        "--model",
        "mlp",
        "--optimizer",
        "adam-atan2",
        "--widths",
        "64,128,256,512",
        "--lrs=-12:-2",
        "--steps",
        "200",
    ],
    "transfer_cpu_gpt_adam": [
        "--model",
        "transformer",
        "--optimizer",
        "adam",
        "--widths",
        "64,128,256",
        "--lrs=-11:-4",
        "--steps",
        "150",
        "--base-width",
        "64",
    ],
}


def main(argv: list[str] | None = None) -> int:
    """Run both sweeps; extra ``argv`` (e.g. ``--workers 1``) go to each ``abcparam sweep``."""
    from abcparam.cli import main as cli

    status = 0
    for name, args in SWEEPS.items():
        out = ["--out", str(results_dir(name))]
        common = ["--schemes", "sp-constant-lr,sp,mup,u-mup", "--seeds", "2"]
        status |= cli(["sweep", *common, *args, *out, *(argv or [])])
    return status
