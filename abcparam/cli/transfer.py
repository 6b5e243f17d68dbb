"""``abcparam transfer``: a tuned proxy run's hyperparameters carried to the target run."""

from __future__ import annotations

import argparse
import textwrap

from .. import validate
from ..calculator import BASE_KEYS, DEFAULT_RULES, RULES, TARGET_KEYS, transfer
from . import args as cli_args


def parse_run(text: str, what: str, keys: tuple[str, ...]) -> dict[str, float]:
    """``key=value,...`` -> {key: number}; a malformed item names itself and the accepted form."""

    def number(key: str, value: str) -> float:
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"--{what} {key} = {value!r}; accepted: a number") from None

    example = f"key=value,... with keys {', '.join(keys)}"
    return validate.key_values(text.strip().strip(","), f"--{what}", example, parse=number)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from",
        dest="base",
        required=True,
        help=f"the tuned run, key=value,... ({', '.join(BASE_KEYS)}; wd = weight_decay)",
    )
    parser.add_argument(
        "--to",
        dest="target",
        required=True,
        help=f"the target run, key=value,... ({', '.join(TARGET_KEYS)})",
    )
    cli_args.add_scheme(parser, default="mup")
    cli_args.add_optimizer(parser, default="adamw")
    parser.add_argument(
        "--rules",
        default=",".join(DEFAULT_RULES),
        help=f"comma-separated, from {', '.join(RULES)} (fitted laws are opt-in)",
    )
    parser.add_argument(
        "--weight-decay",
        default="coupled",
        choices=("coupled", "independent"),
        help="the weight-decay convention (coupled: torch's AdamW)",
    )
    cli_args.add_format(parser, ("markdown", "json"), "a table or JSON")


def run(args: argparse.Namespace) -> int:
    result = transfer(
        parse_run(args.base, "from", BASE_KEYS),
        parse_run(args.target, "to", TARGET_KEYS),
        scheme=args.scheme,
        optimizer=args.optimizer,
        rules=args.rules,
        weight_decay=args.weight_decay,
    )
    if args.format == "json":
        print(result.to_json(), end="")
        return 0
    # the reasons are list items of several hundred characters: wrapped for a terminal
    for line in result.to_markdown().splitlines():
        if line.startswith("- ") and len(line) > 100:
            line = textwrap.fill(line, 100, subsequent_indent="  ", break_on_hyphens=False)
        print(line)
    print(
        "\nLegend: base / target: the value in the tuned run and the one to use; ×: target / base; "
        "moved by: the rules that\nmoved it; label: derived (engine), fitted (an empirical law, "
        "opt-in), convention, or unchanged."
    )
    return 0
