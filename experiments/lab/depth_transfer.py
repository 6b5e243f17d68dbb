"""Depth transfer on CPU: the base-LR optimum of the character-level GPT (pydoc text) across
depths 2..16 under μP (no depth rule), Depth-μP and CompleteP, 2 seeds; the drift of the optimum
per doubling of depth.  A CPU-sized sweep (width 32, 40 Adam steps): it can show whether the
optimum moves with depth over 2..16 blocks early in training, not what happens at the end of a
long run or at scale (CompleteP / TP-VI measure hundreds of millions of tokens).

Run: ``python experiments/depth_transfer.py [--quick]``; results in
experiments/results/depth_transfer_gpt (runs.jsonl, summary.md, loss_vs_lr.png, config.json).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from abcparam.cli import main as cli

RESULTS = Path(__file__).resolve().parents[2] / "experiments" / "results"
FULL = {
    "--depths": "2,4,8,16",
    "--widths": "32",
    "--lrs=-10:-4": None,
    "--steps": "40",
    "--seeds": "2",
}
QUICK = {"--depths": "2,4", "--widths": "16", "--lrs=-8:-6": None, "--steps": "3", "--seeds": "1"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke version")
    parser.add_argument("--out", default=None, help="default: experiments/results/...")
    parser.add_argument("--workers", default="2")
    args = parser.parse_args(argv)
    out = Path(
        args.out or RESULTS / ("depth_transfer_quick" if args.quick else "depth_transfer_gpt")
    )
    sizes = QUICK if args.quick else FULL
    flat = [x for k, v in sizes.items() for x in ((k,) if v is None else (k, v))]
    return cli(
        [
            "sweep",
            "--vary",
            "depth",
            "--model",
            "transformer",
            "--schemes",
            "mup,depth-mup,completep",
            "--optimizer",
            "adam",
            "--base-width",
            sizes["--widths"],
            "--workers",
            args.workers,
            "--out",
            str(out),
            *flat,
        ]
    )
