"""``abcparam predict-loss``: the final loss at an untrained width from saved runs at smaller
widths (a ``L_inf + A n^-alpha`` fit with a bootstrap over seeds; :func:`abcparam.predict_loss`)."""

from __future__ import annotations

import argparse
import json

from .. import validate
from . import args as cli_args


def _widths(text: str) -> list[int]:
    return [validate.positive_int(w, "widths") for w in text.split(",")]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", required=True, help="a sweep folder (runs.jsonl) or the file")
    parser.add_argument(
        "--width", type=cli_args.positive_int("width"), required=True, help="width to predict"
    )
    parser.add_argument("--scheme", default=None, help="the runs' scheme, when they hold several")
    parser.add_argument("--log2-lr", type=float, default=None, help="when a width has several LRs")
    parser.add_argument(
        "--widths",
        default=None,
        type=cli_args._argparse_type(_widths, "widths"),
        help="trained widths to fit (default: all below --width)",
    )
    cli_args.add_positive(
        parser, "--bootstrap", 1000, "bootstrap resamples over seeds for the interval"
    )
    parser.add_argument(
        "--confidence", type=float, default=0.9, help="coverage of the interval, in (0, 1)"
    )
    cli_args.add_format(parser, ("text", "json"), "lines of text or JSON")


def run(args: argparse.Namespace) -> int:
    # only this subcommand needs the forecasts (scipy's optimiser)
    from ..forecasts import predict_loss

    p = predict_loss(
        args.runs,
        args.width,
        scheme=args.scheme,
        log2_lr=args.log2_lr,
        widths=args.widths,
        bootstrap=args.bootstrap,
        confidence=args.confidence,
    )
    if args.format == "json":
        print(json.dumps(p.to_dict(), indent=2))
        return 0
    lo, hi = p.interval
    print(
        f"width {p.width}: loss {p.loss:.4f} nats, {p.confidence:.0%} interval [{lo:.4f}, {hi:.4f}]"
    )
    print(
        f"law L = {p.l_inf:.4f} + {p.amplitude:.4g} (n/{p.widths[0]})^-{p.exponent:.3f}, fitted "
        f"on widths {', '.join(map(str, p.widths))} "
        f"(seeds {', '.join(str(p.seeds[w]) for w in p.widths)})"
    )
    print(f"last gap |L({p.widths[-1]}) - L({p.widths[-2]})| = {p.last_gap:.4f} nats")
    for note in p.notes:
        print(f"note: {note}")
    return 0
