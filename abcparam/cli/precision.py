"""``abcparam precision``: per layer and tensor role, the predicted RMS across widths, the fraction a
number format rounds to zero or overflows, and the width where each crosses 1 %."""

from __future__ import annotations

import argparse
import json
import textwrap

from .. import validate
from ..engine.exponents import canonical_kind
from ..engine.formats import FORMAT_ALIASES, get_format
from ..engine.precision import ROLES, predict
from ..engine.rules import rules
from . import args as cli_args

#: the line under the table that says what each column holds
LEGEND = (
    "Legend: RMS ~ n^e: the predicted RMS grows as width^e; RMS n={base}: the RMS at the base "
    "width; zero n=W: % of entries the format rounds to zero at width W; overflow max: the "
    "largest % above the format's range over the widths; zero>1% from / ovf>1% from: the width "
    "from which more than 1 % round to zero / overflow (never: not at any width)."
)


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
    cli_args.add_scheme(parser, required=True)
    cli_args.add_optimizer(parser)
    cli_args.add_alignment(parser)
    parser.add_argument(
        "--format",
        default="e4m3",
        help=f"format of weights and activations (accepted: {', '.join(FORMAT_ALIASES)})",
    )
    parser.add_argument(
        "--grad-format", default=None, help="format of the gradients (default: --format)"
    )
    parser.add_argument(
        "--widths", default="128,256,512,1024,2048,4096", help="comma-separated widths to predict"
    )
    parser.add_argument(
        "--base-width", type=int, default=128, help="the width where the RMS is given or measured"
    )
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
        # torch boundary: only this subcommand needs torch (`abcparam rules` stays light)
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

    def width(x):
        if x is None:
            return "never"
        if x <= args.base_width:
            return f"<={args.base_width}"
        return f"{x:.0f}" if x < 1e6 else f"{x:.2g}"

    head = [
        ("layer", "<20"),
        ("role", "<16"),
        ("RMS ~ n^e", ">10"),
        (f"RMS n={args.base_width}", ">10"),
        ("format", ">7"),
        *((f"zero n={w}", ">11") for w in widths),
        ("overflow max", ">12"),
        ("zero>1% from", ">12"),
        ("ovf>1% from", ">11"),
    ]
    print("  ".join(f"{name:{align}}" for name, align in head))
    for r in rows:
        cells = [
            r.layer,
            r.role,
            f"e = {r.exponent}",
            f"{r.rms_base:.3g}",
            r.format,
            *(f"{100 * u:.2f}%" for u in r.underflow),
            f"{100 * max(r.overflow):.2f}%",
            width(r.underflow_1pct_width),
            width(r.overflow_1pct_width),
        ]
        print("  ".join(f"{c:{align}}" for c, (_, align) in zip(cells, head, strict=True)))
    print(textwrap.fill(LEGEND.format(base=args.base_width), 100))
    return 0
