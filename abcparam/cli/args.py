"""Argument parsers shared by every subcommand, so one value means the same thing everywhere.

Each parser is an argparse ``type=``: it turns the text into a checked value or raises
:class:`argparse.ArgumentTypeError` whose message names the bad value and the accepted ones
(the checks themselves live in :mod:`abcparam.validate`, shared with the Python API).
"""

from __future__ import annotations

import argparse
import difflib
import json
from collections.abc import Callable
from typing import Any

from .. import validate
from ..engine.alignment import make_alignment
from ..engine.optimizers import OPTIMIZERS, get_optimizer
from ..engine.schemes import SCHEMES, get_scheme

#: The documented alignment forms, in the words every error message uses.
ALIGNMENT_FORMS = (
    "full, none, tp4, a number in [1/2, 1] (e.g. 3/4), a JSON mapping "
    "(e.g. '{\"alpha\": 0.75}'), or a symbol written symbol:NAME (e.g. symbol:alpha)"
)
ALIGNMENT_NAMES = ("full", "none", "tp4")
SYMBOL_PREFIX = "symbol:"


def _argparse_type(check: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """Wrap a check raising ValueError/TypeError as an argparse type with the check's message."""

    def parse(text: str) -> Any:
        try:
            return check(text)
        except (ValueError, TypeError) as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parse.__name__ = name  # argparse names the type in its own messages
    return parse


def _symbol(text: str):
    import sympy

    name = text[len(SYMBOL_PREFIX) :].strip()
    if not name.isidentifier():
        raise ValueError(
            f"alignment {text!r}: {name!r} is not a symbol name (letters, digits, _); "
            f"accepted: {ALIGNMENT_FORMS}"
        )
    return sympy.Symbol(name)


def _mapping_value(value: Any, where: str) -> Any:
    """A JSON value inside an alignment mapping: numbers arrive as their text (exact), strings
    are numbers such as '1/2' or symbol:NAME, objects are per-kind mappings."""
    if isinstance(value, dict):
        return {k: _mapping_value(v, f"{where}[{k}]") for k, v in value.items()}
    if isinstance(value, str):
        return _symbol(value) if value.startswith(SYMBOL_PREFIX) else value
    raise ValueError(
        f"alignment {where} = {json.dumps(value)}; accepted: a number, a string such as "
        f'"1/2" or "symbol:alpha", or a mapping per layer kind'
    )


def _reject_constant(name: str):
    raise ValueError(f"alignment mapping holds {name}; accepted: finite numbers in [1/2, 1]")


def parse_alignment(text: str) -> Any:
    """An alignment given on the command line, checked; returns what ``abcparam.rules`` takes.

    Accepted, in every command alike: ``full``, ``none``, ``tp4``; a number (``3/4``, ``0.75``);
    a JSON mapping such as ``'{"alpha": 0.75, "omega": {"readout": 1}}'`` (values numbers or
    strings); or a symbol written explicitly, ``symbol:alpha``.  Anything else (a typo such as
    ``ful``) is an error, never a silent new symbol.
    """
    if not isinstance(text, str):
        raise TypeError(f"alignment = {text!r}; accepted: {ALIGNMENT_FORMS}")
    raw = text.strip()
    spec: Any
    if raw.startswith("{"):
        try:
            # numbers as their text: '0.75' -> exactly 3/4, never a float
            parsed = json.loads(
                raw, parse_float=str, parse_int=str, parse_constant=_reject_constant
            )
        except json.JSONDecodeError as err:
            raise ValueError(
                f"alignment {text!r} is not valid JSON ({err.msg} at character {err.pos}); "
                f"accepted: {ALIGNMENT_FORMS}"
            ) from None
        if not isinstance(parsed, dict):
            raise ValueError(f"alignment {text!r}; accepted: {ALIGNMENT_FORMS}")
        spec = {k: _mapping_value(v, k) for k, v in parsed.items()}
    elif raw.startswith(SYMBOL_PREFIX):
        spec = _symbol(raw)
    elif raw.lower() in ALIGNMENT_NAMES:
        spec = raw.lower()
    else:
        try:
            import sympy

            sympy.Rational(raw)
        except (TypeError, ValueError, SyntaxError, ZeroDivisionError):
            close = difflib.get_close_matches(raw.lower(), ALIGNMENT_NAMES, n=1)
            hint = (
                f" (did you mean {close[0]!r}?)"
                if close
                else (f" (for a symbol write symbol:{raw})" if raw.isidentifier() else "")
            )
            raise ValueError(
                f"unknown alignment {text!r}{hint}; accepted: {ALIGNMENT_FORMS}"
            ) from None
        spec = raw
    try:
        make_alignment(spec)  # ranges, variable and layer names
    except (ValueError, TypeError) as err:
        message = str(err)
        if "accepted" not in message:
            message += f"; accepted: {ALIGNMENT_FORMS}"
        raise ValueError(message) from None
    return spec


alignment = _argparse_type(parse_alignment, "alignment")
widths = _argparse_type(validate.widths, "widths")
lr_range = _argparse_type(validate.lr_range, "lrs")


def positive_int(name: str) -> Callable[[str], int]:
    """argparse type: an integer >= 1, named ``name`` in the message."""
    return _argparse_type(lambda text: validate.positive_int(text, name), "positive_int")


def positive_float(name: str) -> Callable[[str], float]:
    """argparse type: a finite number > 0 (nan, inf, 0 and negatives refused)."""
    return _argparse_type(lambda text: validate.positive_float(text, name), "positive_float")


def name_in(accepted: Callable[[str], Any], what: str) -> Callable[[str], str]:
    """argparse type: a name the engine resolves (aliases allowed), e.g. a scheme or optimizer;
    ``accepted`` is the lookup (raising ValueError with the accepted names)."""

    def check(text: str) -> str:
        accepted(text)
        return text

    return _argparse_type(check, what)


def grad_rms_type(check: Callable[[str], Any]) -> Callable[[str], Any]:
    """argparse type from a check raising ValueError (used for --grad-rms)."""
    return _argparse_type(check, "grad_rms")


#: help of --alignment, the same in every command
ALIGNMENT_HELP = f"how updates align with the features: {ALIGNMENT_FORMS}"


def add_scheme(parser: argparse.ArgumentParser, **kwargs: Any) -> None:
    """``--scheme``: a scheme name (or alias), checked by the engine; help lists the schemes."""
    parser.add_argument(
        "--scheme",
        type=name_in(get_scheme, "scheme"),
        help=f"the scheme: {', '.join(SCHEMES)} (or an alias)",
        **kwargs,
    )


def add_optimizer(parser: argparse.ArgumentParser, default: str = "adam") -> None:
    """``--optimizer``: an optimizer name (or alias); help lists the optimizers."""
    parser.add_argument(
        "--optimizer",
        default=default,
        type=name_in(get_optimizer, "optimizer"),
        help=f"the optimizer: {', '.join(OPTIMIZERS)}",
    )


def add_alignment(parser: argparse.ArgumentParser) -> None:
    """``--alignment``: the forms :func:`parse_alignment` accepts, named exactly in the help."""
    parser.add_argument("--alignment", default="full", type=alignment, help=ALIGNMENT_HELP)


def add_format(parser: argparse.ArgumentParser, choices: tuple[str, ...], help: str) -> None:
    """``--format``: one of ``choices``, the first the default."""
    parser.add_argument("--format", default=choices[0], choices=choices, help=help)


def add_positive(parser: Any, flag: str, default: Any, help: str, kind: type = int) -> None:
    """``flag`` taking one positive ``kind`` (int or float), named in its error message."""
    check = positive_int if kind is int else positive_float
    parser.add_argument(flag, type=check(flag.lstrip("-")), default=default, help=help)


def add_device(parser: argparse.ArgumentParser) -> None:
    """``--device``: where to train."""
    parser.add_argument("--device", default="cpu", help="where to train: cpu, cuda, cuda:1, ...")
