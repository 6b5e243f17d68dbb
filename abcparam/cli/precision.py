"""``abcparam precision``: per layer and tensor role, the predicted RMS across widths, the fraction a
number format rounds to zero or overflows, and the width where each crosses 1 %."""

from __future__ import annotations

import argparse
import json

from .. import validate
from ..engine.formats import FORMAT_ALIASES, get_format
from ..engine.optimizers import get_optimizer
from ..engine.precision import ROLES, predict
from ..engine.rules import rules
from ..engine.schemes import get_scheme
from . import args as cli_args


def _widths(text: str) -> list[int]:
    try:
        widths = [int(w) for w in text.split(",") if w.strip()]
    except ValueError:
        raise ValueError(f"--widths {text!r}: need comma-separated positive integers") from None
    if not widths or any(w <= 0 for w in widths):
        raise ValueError(f"--widths {text!r}: need comma-separated positive integers")
    return widths


def _rms(text: str) -> dict[tuple[str, str, str], float]:
    """``kind.role=value,...`` (the layer is named after its kind)."""
    from ..engine.exponents import canonical_kind

    def key(text: str) -> str:
        kind, dot, role = text.partition(".")
        if not dot:
            raise ValueError(f"--rms item {text!r}: expected kind.role=value, e.g. hidden.input=1")
        if role not in ROLES:
            raise ValueError(f"--rms role {role!r}; accepted: {', '.join(ROLES)}")
        return f"{canonical_kind(kind)}.{role}"  # a misspelled kind names the accepted ones

    out = {}
    for k, v in validate.key_values(text, "--rms", "hidden.input=1", canon=key).items():
        kind, _, role = k.partition(".")
        out[(kind, kind, role)] = validate.positive_float(v, f"--rms {k}")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scheme", required=True, type=cli_args.name_in(get_scheme, "scheme"))
    parser.add_argument(
        "--optimizer", default="adam", type=cli_args.name_in(get_optimizer, "optimizer")
    )
    parser.add_argument("--alignment", default="full", type=cli_args.alignment)
    parser.add_argument(
        "--format",
        default="e4m3",
        help=f"format of weights and activations (accepted: {', '.join(FORMAT_ALIASES)})",
    )
    parser.add_argument(
        "--grad-format", default=None, help="format of the gradients (default: --format)"
    )
    parser.add_argument("--widths", default="128,256,512,1024,2048,4096")
    parser.add_argument("--base-width", type=int, default=128)
    parser.add_argument(
        "--model",
        default="mlp",
        choices=("mlp", "transformer"),
        help="built-in model measured at the base width when --rms is not given",
    )
    parser.add_argument(
        "--rms",
        default=None,
        help="RMS at the base width instead of measuring: kind.role=value,... "
        "(e.g. hidden.weight=1,hidden.grad_output=1e-3)",
    )
    parser.add_argument("--roles", default=None, help="only these roles (comma-separated)")
    parser.add_argument("--trained", action="store_true", help="exponents after training")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    fwd = get_format(args.format)
    grad = get_format(args.grad_format) if args.grad_format else fwd
    widths = _widths(args.widths)
    if args.base_width <= 0:
        raise ValueError(f"--base-width {args.base_width}: need a positive integer")
    table = rules(args.scheme, optimizer=args.optimizer, alignment=args.alignment)
    roles = None
    if args.roles:
        roles = [r.strip() for r in args.roles.split(",")]
        bad = [r for r in roles if r not in ROLES]
        if bad:
            raise ValueError(f"--roles {bad}; accepted: {', '.join(ROLES)}")
    if args.rms is not None:
        measured = _rms(args.rms)
        source = "given"
    else:
        from ..torch.precision import base_rms

        measured = base_rms(table, model_name=args.model, base_width=args.base_width)
        source = f"measured on the built-in {args.model} at width {args.base_width}"
    qk = [layer for layer, _, _ in measured if layer.endswith((".attn.q", ".attn.k"))]
    rows = predict(
        table, measured, args.base_width, widths, fwd.name, grad.name, args.trained, qk_layers=qk
    )
    if roles is not None:
        rows = [r for r in rows if r.role in roles]
    if args.json:
        payload = {
            "scheme": table.scheme,
            "optimizer": table.optimizer,
            "forward_format": fwd.to_dict(),
            "gradient_format": grad.to_dict(),
            "base_width": args.base_width,
            "rms_source": source,
            "trained": args.trained,
            "assumption": "zero-mean Gaussian entries (exact zeros left out)",
            "rows": [r.to_dict() for r in rows],
        }
        print(json.dumps(payload, indent=2))
        return 0
    print(
        f"{table.title()} — {fwd.name} for weights/activations, {grad.name} for gradients; "
        f"RMS at base {source}; fractions for Gaussian entries"
    )
    head = f"{'layer':<20} {'role':<16} {'RMS ~ n^e':>10} {'RMS@base':>9} {'fmt':>5}"
    head += "".join(f" {'0%@' + str(w):>8}" for w in widths)
    head += f" {'max ovf':>8} {'0 >1% at':>9} {'ovf >1% at':>10}"
    print(head)

    def width(x):
        if x is None:
            return "never"
        if x <= args.base_width:
            return f"<={args.base_width}"
        return f"{x:.0f}" if x < 1e6 else f"{x:.2g}"

    for r in rows:
        line = f"{r.layer:<20} {r.role:<16} {'e = ' + str(r.exponent):>10} {r.rms_base:>9.3g}"
        line += f" {r.format:>5}" + "".join(f" {100 * u:>7.2f}%" for u in r.underflow)
        line += f" {100 * max(r.overflow):>7.2f}%"
        line += f" {width(r.underflow_1pct_width):>9} {width(r.overflow_1pct_width):>10}"
        print(line)
    return 0
