"""``abcparam book build``: rebuild the Jupyter Book (the work is in :mod:`experiments.lab.book`)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("build",), help="build the book")


def run(args: argparse.Namespace) -> int:
    # only this subcommand reads the checkout's experiments/ package
    from .checkout import lab_module

    return lab_module("book", "book build").build()
