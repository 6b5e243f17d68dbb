"""``abcparam main``: the README's main job (the work is in :mod:`abcparam.tooling.main_job`)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--skip-coordcheck", action="store_true")
    parser.add_argument("--skip-book", action="store_true")


def run(args: argparse.Namespace) -> int:
    from ..tooling.main_job import main_job

    return main_job(skip_coordcheck=args.skip_coordcheck, skip_book=args.skip_book)
