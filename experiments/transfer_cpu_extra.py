"""The other CPU sweeps of the transfer issue: Adam-atan2 on the MLP (digits), and Adam on the
character-level GPT (pydoc text, widths 64..256, 150 steps).  Resumable.
Run: ``python experiments/transfer_cpu_extra.py``; results in experiments/results/transfer_cpu_*.
"""

from pathlib import Path

from abcparam.cli import main

RESULTS = Path(__file__).parent / "results"
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

if __name__ == "__main__":
    for name, args in SWEEPS.items():
        out = RESULTS / name
        main(
            ["sweep", "--schemes", "sp-constant-lr,sp,mup,u-mup", "--seeds", "2", "--out", str(out)]
            + args
        )
