"""``abcparam coord-check``: measure width-scaling slopes and compare them with the engine."""

from __future__ import annotations

import argparse
from pathlib import Path

from .rules import parse_alignment


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="mlp", choices=("mlp", "transformer"))
    parser.add_argument("--scheme", default="mup")
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--alignment", default="full")
    parser.add_argument(
        "--lr-exponents",
        default="derived",
        choices=("derived", "global"),
        help="derived per-layer c, or one width-independent LR (c = 0)",
    )
    parser.add_argument("--widths", default="128,256,512,1024,2048")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--lr", type=float, default=None, help="base learning rate")
    parser.add_argument("--base-width", type=int, default=None)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--tolerance", type=float, default=0.15)
    parser.add_argument("--out", default=None, help="folder for results.json and plots")


def run(args: argparse.Namespace) -> int:
    from ..coordcheck.run import run_coord_check

    widths = tuple(int(w) for w in args.widths.split(","))
    result = run_coord_check(
        model=args.model,
        scheme=args.scheme,
        optimizer=args.optimizer,
        alignment=parse_alignment(args.alignment),
        lr_exponents=args.lr_exponents,
        widths=widths,
        steps=args.steps,
        seeds=args.seeds,
        lr=args.lr,
        base_width=args.base_width,
        depth=args.depth,
        tolerance=args.tolerance,
        out=args.out,
    )
    print(result.table(step=args.steps))
    s = result.summary()
    print(
        f"\n{s['passed']}/{s['fits']} fits within {args.tolerance} of the measured-alignment "
        f"prediction; {s['preset_passed']}/{s['fits']} of the preset ({args.alignment}) one."
    )
    for flag in result.flags:
        print("preset miss:", flag)
    for bad in result.nonfinite:
        print(
            f"non-finite {bad['quantity']} at layer {bad['layer']}, width {bad['width']}, "
            f"seed {bad['seed']}, step {bad['step']} (earlier measurements kept)"
        )
    if args.out:
        print(f"wrote {Path(args.out) / 'results.json'} and plots")
    return 0 if result.passed else 1
