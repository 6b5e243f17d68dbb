"""``abcparam epsilon``: per layer, the width at which a constant Adam eps reaches sqrt(v)."""

from __future__ import annotations

import argparse
import json
import math

from .. import validate
from ..engine.epsilon import crossovers
from ..engine.exponents import canonical_kind
from ..engine.optimizers import get_optimizer
from ..engine.rules import rules
from . import args as cli_args


def _parse_grad(text: str) -> float | dict[str, float]:
    """``--grad-rms``: one positive number, or ``kind=value,...`` with known layer kinds."""
    accepted = "one number > 0, or kind=value,... (e.g. hidden=1e-5,readout=1e-3)"
    if "=" not in text:
        return validate.positive_float(text, "grad-rms")

    def rms(kind: str, value: str) -> float:
        return validate.positive_float(value, f"grad-rms {kind}")

    return validate.key_values(text, "grad-rms", accepted, canon=canonical_kind, parse=rms)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli_args.add_scheme(parser, required=True)
    cli_args.add_optimizer(parser)
    cli_args.add_alignment(parser)
    cli_args.add_positive(parser, "--eps", 1e-8, "the constant epsilon", kind=float)
    parser.add_argument(
        "--base-width",
        type=cli_args.positive_int("base-width"),
        required=True,
        help="the width where the gradient RMS is given or measured",
    )
    parser.add_argument(
        "--grad-rms",
        default=None,
        type=cli_args.grad_rms_type(_parse_grad),
        help="raw-gradient RMS at the base width: one number or "
        "kind=value,... (default: measured on the built-in MLP)",
    )
    parser.add_argument(
        "--model",
        default="mlp",
        choices=("mlp", "transformer"),
        help="model whose base-width gradients are measured when --grad-rms is not given",
    )
    cli_args.add_format(parser, ("text", "json"), "a table or JSON")


def run(args: argparse.Namespace) -> int:
    table = rules(args.scheme, optimizer=args.optimizer, alignment=args.alignment)
    if not get_optimizer(args.optimizer).has_eps:
        raise ValueError(
            f"optimizer {table.optimizer!r} has no epsilon; accepted here: optimizers with one "
            f"(adam, adafactor)"
        )
    if args.grad_rms is not None:
        grad = args.grad_rms
        source = "given"
    else:
        # torch boundary: only this subcommand needs torch (`abcparam rules` stays light)
        from ..torch.gradient_rms import base_gradient_rms

        grad = base_gradient_rms(table, model=args.model, base_width=int(args.base_width))
        source = f"measured on the built-in {args.model} at width {int(args.base_width)}"
    if args.eps >= 1:  # Adam's eps sits beside sqrt(v), ~1e-8; 1 or more swamps every update
        raise ValueError(
            f"eps = {args.eps:g}; accepted: a number in (0, 1) (a constant added to sqrt(v); at "
            f"1 or more it swamps every update at every width)"
        )
    rows = crossovers(table, args.eps, args.base_width, grad)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "scheme": table.scheme,
                    "optimizer": table.optimizer,
                    "eps": args.eps,
                    "base_width": args.base_width,
                    "grad_rms_source": source,
                    "layers": [r.to_dict() for r in rows],
                },
                indent=2,
            )
        )
        return 0
    print(
        f"{table.title()} — constant eps = {args.eps:g}, base width {args.base_width:g}, "
        f"gradient RMS {source}"
    )
    print(f"{'layer':<11} {'grad RMS ~ n^-g':>16} {'RMS at base':>12} {'crossover width':>16}")
    for r in rows:
        width = "never" if math.isinf(r.width) else f"{r.width:.3g}"
        print(f"{r.kind:<11} {'g = ' + str(r.exponent):>16} {r.grad_rms_base:>12.3g} {width:>16}")
    print(
        "Legend: grad RMS ~ n^-g: the raw gradient's RMS shrinks as width^-g; crossover width: "
        "where\nsqrt(v) falls to the constant eps (past it, eps swamps the update; never: it "
        "does not)."
    )
    return 0
