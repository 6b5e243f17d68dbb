"""``abcparam main``: the README's main job (the work is in :mod:`experiments.lab.main_job`)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--skip-coordcheck", action="store_true", help="derive the tables only, no training"
    )
    parser.add_argument("--skip-book", action="store_true", help="do not rebuild the book")
    parser.add_argument(
        "--refresh-committed",
        action="store_true",
        help="write experiments/results/ (the committed results) instead of the ignored "
        "experiments/results/_latest/",
    )


def run(args: argparse.Namespace) -> int:
    # only this subcommand reads the checkout's experiments/ package
    from .checkout import lab_module

    return lab_module("main_job", "main").main_job(
        skip_coordcheck=args.skip_coordcheck,
        skip_book=args.skip_book,
        refresh_committed=args.refresh_committed,
    )
