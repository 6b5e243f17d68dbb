"""``abcparam rules SCHEME``: print a derived table (markdown, LaTeX or JSON)."""

from __future__ import annotations

import argparse
import json
import textwrap

from ..engine.optimizers import OPTIMIZERS, UPDATE_VIEWS, WEIGHT_DECAY_CONVENTIONS
from ..engine.rules import LR_MODES, rules
from ..engine.schemes import SCHEMES, get_scheme
from . import args as cli_args
from .args import parse_alignment

__all__ = ["add_arguments", "parse_alignment", "reasons", "run"]

#: the reasons (``--why``) are wrapped to this many characters, so no line runs off a terminal
WRAP = 88
#: the line under the table that says what each column holds
LEGEND = (
    "Legend: per layer kind, width n scales the multiplier as n^-a, the init std as n^-b, the "
    "learning rate as n^-c, Adam's epsilon as n^-eps and weight decay as n^-wd (—: no width "
    "rule); r: after an update the layer's features change as n^-r (0: they learn features)."
)
#: what each reason explains, by the key ``Rule.why`` stores it under
REASON_NAMES = {
    "c": "c (learning rate)",
    "wd": "wd (weight decay)",
    "c_L": "c_L (learning rate in depth)",
}


def _symbol_or_number(text: str):
    """A depth option: a named form ('coherent', 'independent'), a number ('1/2') or a symbol
    written explicitly ('symbol:alpha'), as for --alignment; anything else is an error."""
    import sympy

    raw = text.strip()
    if raw.lower() in ("coherent", "independent"):
        return raw.lower()
    if raw.startswith(cli_args.SYMBOL_PREFIX):
        name = raw[len(cli_args.SYMBOL_PREFIX) :].strip()
        if name.isidentifier():
            return sympy.Symbol(name)
    else:
        try:
            sympy.Rational(raw)
            return raw
        except (TypeError, ValueError, SyntaxError, ZeroDivisionError):
            pass
    raise ValueError(
        f"{text!r}; accepted: coherent, independent, a number such as 1/2, or symbol:NAME"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scheme",
        type=cli_args.name_in(get_scheme, "scheme"),
        help=f"one of {', '.join(SCHEMES)} (or an alias)",
    )
    parser.add_argument(
        "--optimizer",
        default="adam",
        help=f"one of {', '.join(OPTIMIZERS)}, or per kind: 'hidden=muon,default=adamw'",
    )
    parser.add_argument(
        "--weight-decay",
        default="coupled",
        choices=WEIGHT_DECAY_CONVENTIONS,
        help="coupled: lr*lambda width-independent (torch's p(1 - lr*lambda)); "
        "independent: lambda width-independent (p(1 - lambda))",
    )
    parser.add_argument(
        "--update-view",
        default="spectral",
        choices=UPDATE_VIEWS,
        help="Muon only: spectral (named spectral alignment) or entry (the given alignment)",
    )
    cli_args.add_alignment(parser)
    parser.add_argument(
        "--lr",
        default="per-layer",
        choices=LR_MODES,
        help="per-layer c, or the largest c shared by every layer",
    )
    cli_args.add_positive(
        parser, "--hidden-layers", 2, "hidden layers of the network the constraints are written for"
    )
    parser.add_argument(
        "--format",
        default="markdown",
        choices=("markdown", "latex", "json"),
        help="markdown (readable in a terminal too), latex or json",
    )
    parser.add_argument(
        "--why",
        action="store_true",
        help="add the reason for every c (and wd), one wrapped paragraph per layer under the table",
    )
    parser.add_argument(
        "--front", action="store_true", help="also print the Pareto front of largest learning rates"
    )
    parser.add_argument(
        "--depth-alpha",
        default=None,
        type=cli_args._argparse_type(_symbol_or_number, "depth_alpha"),
        help="residual-branch exponent alpha (branches L^-alpha): a number such as 1/2, or a "
        "symbol written symbol:NAME (default: depth-mup / completep carry their own, others none)",
    )
    parser.add_argument(
        "--depth", action="store_true", help="apply the scheme's own depth rule (u-mup's)"
    )
    parser.add_argument(
        "--depth-alignment",
        default="coherent",
        type=cli_args._argparse_type(_symbol_or_number, "depth_alignment"),
        help="how the blocks' updates add: coherent (L^1), independent (L^1/2), a number such as "
        "3/4, or symbol:NAME",
    )


def reasons(table) -> str:
    """``--why``: the reason for every layer's exponents as a markdown list under the table, each
    wrapped to :data:`WRAP` characters (a table cell of several hundred would not be readable)."""
    keys = ("c_L",) if table.has_depth else ("c", "wd")
    lines = ["Why each exponent:"]
    for kind, rule in table.layers.items():
        for key in keys:
            text = rule.why.get(key)
            if text:
                lines += textwrap.wrap(
                    f"{kind}, {REASON_NAMES[key]}: {text}",
                    WRAP,
                    initial_indent="- ",
                    subsequent_indent="  ",
                    break_on_hyphens=False,
                )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    table = rules(
        args.scheme,
        optimizer=args.optimizer,
        alignment=args.alignment,
        lr=args.lr,
        hidden_layers=args.hidden_layers,
        depth=True if args.depth else None,
        depth_alpha=args.depth_alpha,
        depth_alignment=args.depth_alignment,
        weight_decay=args.weight_decay,
        update_view=args.update_view,
    )
    if args.front and not table.alignment.is_numeric:
        symbols = ", ".join(map(str, table.alignment.symbols))
        raise ValueError(
            f"--front needs a numeric alignment; this one has the symbol(s) {symbols}: give "
            f"full, none, tp4, a number or a mapping of numbers"
        )
    front = table.front if args.front else None  # computed before anything is printed
    if args.format == "json":
        data = table.to_dict()
        if front is not None:
            data["front"] = [{k: str(v) for k, v in p.items()} for p in front]
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    if args.format == "latex":
        print(table.to_latex())
    else:
        print(table.to_markdown())
        print(textwrap.fill(LEGEND, WRAP))
        if args.why:
            print("\n" + reasons(table))
    if front is not None:
        print("\nPareto front of largest learning rates (c per layer):")
        for point in front:
            print("  " + ", ".join(f"{k} {v}" for k, v in point.items()))
    return 0
