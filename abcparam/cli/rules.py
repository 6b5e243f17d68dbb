"""``abcparam rules SCHEME``: print a derived table (markdown, LaTeX or JSON)."""

from __future__ import annotations

import argparse
import json
import re

import sympy

from ..engine.optimizers import OPTIMIZERS, UPDATE_VIEWS, WEIGHT_DECAY_CONVENTIONS
from ..engine.rules import LR_MODE_ALIASES, LR_MODES, rules
from ..engine.schemes import SCHEMES


def parse_alignment(text: str):
    """CLI alignment: a name ('full', 'none', 'tp4'), a number ('3/4'), a symbol name ('alpha'),
    or a JSON mapping such as '{"alpha": "1/2", "omega": {"readout": 1}}'."""
    text = text.strip()
    if text.startswith("{"):
        return json.loads(text)
    if re.fullmatch(r"[A-Za-z_][A-Za-z_0-9]*", text) and text.lower() not in (
        "full",
        "none",
        "no",
        "tp4",
        "tpiv",
    ):
        return sympy.Symbol(text)
    return text


def _symbol_or_number(text: str | None):
    """A depth option: None, a named form ('coherent'), a number ('1/2') or a symbol name."""
    if text is None:
        return None
    text = text.strip()
    if text.lower() in ("coherent", "independent"):
        return text.lower()
    if re.fullmatch(r"[A-Za-z_][A-Za-z_0-9]*", text):
        return sympy.Symbol(text)
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scheme", help=f"one of {', '.join(SCHEMES)} (or an alias)")
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
    parser.add_argument(
        "--alignment",
        default="full",
        help="full | none | tp4 | a number in [1/2, 1] | a symbol name | JSON map",
    )
    parser.add_argument(
        "--lr",
        default="per-layer",
        choices=LR_MODES + tuple(LR_MODE_ALIASES),
        help="per-layer c, or the largest c shared by every layer ('global': deprecated name)",
    )
    parser.add_argument("--hidden-layers", type=int, default=2)
    parser.add_argument("--format", default="markdown", choices=("markdown", "latex", "json"))
    parser.add_argument("--why", action="store_true", help="add the reason for every c")
    parser.add_argument(
        "--front", action="store_true", help="also print the Pareto front of largest learning rates"
    )
    parser.add_argument(
        "--depth-alpha",
        default=None,
        help="residual-branch exponent alpha (branches L^-alpha): a number such as 1/2, or a "
        "symbol name; depth-mup / completep carry their own",
    )
    parser.add_argument(
        "--depth", action="store_true", help="apply the scheme's own depth rule (u-mup's)"
    )
    parser.add_argument(
        "--depth-alignment",
        default="coherent",
        help="how the blocks' updates add: coherent (L^1) | independent (L^1/2) | a number | symbol",
    )


def run(args: argparse.Namespace) -> int:
    try:
        table = rules(
            args.scheme,
            optimizer=args.optimizer,
            alignment=parse_alignment(args.alignment),
            lr=args.lr,
            hidden_layers=args.hidden_layers,
            depth=True if args.depth else None,
            depth_alpha=_symbol_or_number(args.depth_alpha),
            depth_alignment=_symbol_or_number(args.depth_alignment),
            weight_decay=args.weight_decay,
            update_view=args.update_view,
        )
    except (ValueError, TypeError) as err:
        print(f"error: {err}")
        return 2
    if args.format == "json":
        data = table.to_dict()
        if args.front:
            data["front"] = [{k: str(v) for k, v in p.items()} for p in table.front]
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    print(table.to_latex() if args.format == "latex" else table.to_markdown(why=args.why))
    if args.front:
        print("\nPareto front of largest learning rates (c per layer):")
        for point in table.front:
            print("  " + ", ".join(f"{k} {v}" for k, v in point.items()))
    return 0
