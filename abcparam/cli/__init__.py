"""The ``abcparam`` command line: one subcommand per public job, each a thin wrapper over the Python API.

Each subcommand lives in the module that owns the job and exposes ``add_arguments(parser)`` and
``run(args) -> int``; this file only wires them, importing each lazily so ``abcparam rules`` never
imports torch.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from ..atomic import WriteError
from ..extras import TORCH_EXTRA, message, missing
from ..interrupt import interrupt_on_sigterm
from ..outfolder import FolderBusy

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
    "predict-loss": (
        "abcparam.cli.forecasts",
        "predict the final loss at an untrained width from saved runs (scaling-law fit)",
    ),
    "transfer": (
        "abcparam.cli.transfer",
        "carry a tuned run's hyperparameters to a wider, deeper, longer or larger-batch run",
    ),
    "book": ("abcparam.cli.book", "build the Jupyter Book"),
    "main": (
        "abcparam.cli.main_job",
        "derive the tables, run the CPU coordinate checks, build the book",
    ),
}
#: subcommands that train torch models (they need the ``torch`` extra)
NEEDS_TORCH = ("coord-check", "sweep", "main")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, unless the default is "unset" (None, False),
    the help already states it, or it is a positional argument."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" in text
            or "default:" in text
            or not action.option_strings
            or default is None
            or default is False
            or default is argparse.SUPPRESS
        ):
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


#: the top-level help's description (plain text: no markup in a terminal)
DESCRIPTION = (
    "Derive width-scaling rules (abc-parametrizations) and check them on torch models. "
    "Run 'abcparam COMMAND --help' for a command's options and their defaults."
)


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line (``abcparam rules: error: ...``) and exit status 2."""

    def error(self, message: str):  # type: ignore[override,unused-ignore]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


#: errors that mean "bad input": reported in one line, exit status 2 (``--debug``: traceback)
INPUT_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, OSError)

#: exit statuses (documented in the README): a check that ran but failed is 1, as is a missing
#: optional extra; bad input 2; a result that could not be written after work began (disk full,
#: permission denied: the file is named, what was written before it is kept) 3; an output folder
#: in use by another abcparam process 4; interrupted (SIGINT or SIGTERM, finished runs kept) 130
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_WRITE, EXIT_BUSY, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


def _load(module_name: str):
    return importlib.import_module(module_name)


def build_parser(chosen: str | None = None) -> tuple[argparse.ArgumentParser, dict]:
    """The top-level parser and its subparsers by name; only ``chosen``'s options are added (its
    module imported), so ``abcparam rules`` never imports torch."""
    parser = _Parser(prog="abcparam", description=DESCRIPTION, formatter_class=HelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    subparsers = {}
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sp = sub.add_parser(
            name, help=help_text, description=help_text, formatter_class=HelpFormatter
        )
        sp.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="traceback on errors"
        )
        sp.set_defaults(_module=module_name)
        if name == chosen:
            _load(module_name).add_arguments(sp)
        subparsers[name] = sp
    return parser, subparsers


def _parse(argv: list[str]) -> argparse.Namespace:
    chosen = next((a for a in argv if a in SUBCOMMANDS), None)
    return build_parser(chosen)[0].parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns its exit status.  A bad value ends with one line on stderr
    naming it and the accepted ones and status 2 (``--debug`` shows the traceback instead);
    an interrupt with status 130; a missing optional extra with its install command, status 1."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(argv)
    except ModuleNotFoundError as error:  # an optional extra, named with its install command
        package = (error.name or "").split(".")[0]
        if package not in TORCH_EXTRA:
            raise
        chosen = next((a for a in argv if a in SUBCOMMANDS), None)
        command = f"abcparam {chosen}" if chosen else "abcparam"
        print(f"abcparam: {message(command, [package])}", file=sys.stderr)
        return 1


def _main(argv: list[str]) -> int:
    chosen = next((a for a in argv if a in SUBCOMMANDS), None)
    if chosen in NEEDS_TORCH and "-h" not in argv and "--help" not in argv:
        absent = missing()
        if absent:
            print(f"abcparam: {message(f'abcparam {chosen}', absent)}", file=sys.stderr)
            return 1
    try:
        args = _parse(argv)
    except SystemExit as stop:  # usage errors and --help: argparse has printed its message
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
    debug = bool(getattr(args, "debug", False))

    try:
        with interrupt_on_sigterm():  # SIGTERM ends a command as Ctrl-C does: finished runs kept
            return int(_load(args._module).run(args) or 0)
    except BrokenPipeError:  # output piped into `head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except ModuleNotFoundError:
        raise  # a missing extra: main() names the install command
    except WriteError as err:
        if debug:
            raise
        print(f"abcparam {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_WRITE
    except FolderBusy as err:
        if debug:
            raise
        print(f"abcparam {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_BUSY
    except INPUT_ERRORS as err:
        if debug:
            raise
        print(f"abcparam {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"abcparam {args.command}: interrupted; {_kept(args)}", file=sys.stderr)
        return EXIT_INTERRUPTED


def _kept(args: argparse.Namespace) -> str:
    """What an interrupted command kept: its --out folder (rerun to resume), or nothing."""
    out = getattr(args, "out", None)
    if not out:
        return "nothing was saved (no --out)"
    return f"finished runs are kept in {out}; rerun the same command to resume"


def _one_line(err: BaseException) -> str:
    text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    text = " ".join(str(text).split()) or type(err).__name__
    return text


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
