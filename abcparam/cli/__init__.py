"""The ``abcparam`` command line: one subcommand per public job, each a thin wrapper over the Python API.

Each subcommand lives in the module that owns the job and exposes ``add_arguments(parser)`` and
``run(args) -> int``; this file only wires them, importing each lazily so ``abcparam rules`` never
imports torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand name -> (module that owns it, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "rules": ("abcparam.cli.rules", "derive and print the exponent table of a scheme"),
    "coord-check": ("abcparam.cli.coordcheck", "measure width-scaling slopes on a torch model"),
    "epsilon": ("abcparam.cli.epsilon", "predict where a constant Adam epsilon swamps sqrt(v)"),
    "precision": (
        "abcparam.cli.precision",
        "predict which tensors fall out of FP8 / bf16 range as width grows",
    ),
    "sweep": ("abcparam.cli.sweep", "learning-rate sweeps across widths (muTransfer)"),
    "book": ("abcparam.cli.book", "build the Jupyter Book"),
    "main": (
        "abcparam.cli.main",
        "derive the tables, run the CPU coordinate checks, build the book",
    ),
}


def _load(module_name: str):
    return importlib.import_module(module_name)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="abcparam", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = argv[0] if argv else None
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.set_defaults(_module=module_name)
        if name == chosen:  # only the chosen subcommand's module is imported
            _load(module_name).add_arguments(sp)
    args = parser.parse_args(argv)
    return int(_load(args._module).run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
