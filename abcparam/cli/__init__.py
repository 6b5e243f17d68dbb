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

from ..extras import TORCH_EXTRA, message, missing

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
#: subcommands that train torch models (they need the ``torch`` extra)
NEEDS_TORCH = ("coord-check", "sweep", "main")


def _load(module_name: str):
    return importlib.import_module(module_name)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(argv)
    except ModuleNotFoundError as error:  # an optional extra, named with its install command
        package = (error.name or "").split(".")[0]
        if package not in TORCH_EXTRA:
            raise
        command = f"abcparam {argv[0]}" if argv else "abcparam"
        print(f"abcparam: {message(command, [package])}", file=sys.stderr)
        return 1


def _main(argv: list[str]) -> int:
    if argv and argv[0] in NEEDS_TORCH and "-h" not in argv and "--help" not in argv:
        absent = missing()
        if absent:
            print(f"abcparam: {message(f'abcparam {argv[0]}', absent)}", file=sys.stderr)
            return 1
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
