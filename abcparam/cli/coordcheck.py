"""``abcparam coord-check``: measure width-scaling slopes and compare them with the engine."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from .. import validate
from ..engine.rules import LR_EXPONENTS, rules_for_exponents
from ..loading import load_object
from ..outfolder import claim
from . import args as cli_args
from .startup import first_step


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _add_model_arguments(parser)
    _add_check_arguments(parser)
    _add_depth_arguments(parser.add_argument_group("depth checks (--vary depth)"))


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """What is checked: the model, its batches and loss."""
    parser.add_argument(
        "--model",
        default="mlp",
        help="mlp, transformer (built-in); hf:gpt2, hf:gpt2-untied, hf:llama, hf:llama-tied, cnn, "
        "mha (models built at each width, no download); or my_pkg.module:factory, a function "
        "width -> nn.Module (then --batch)",
    )
    parser.add_argument(
        "--batch",
        default=None,
        help="my_pkg.module:fn, a function seed -> (inputs, targets) (default for the shortcuts: "
        "pydoc text windows, or digits images for cnn)",
    )
    parser.add_argument(
        "--loss",
        default=None,
        help="my_pkg.module:fn(output, targets) -> scalar (default: cross-entropy on the logits "
        "or output.logits)",
    )


def _add_check_arguments(parser: argparse.ArgumentParser) -> None:
    """How it is checked: rules, widths, steps, seeds, learning rate, tolerance and output."""
    cli_args.add_scheme(parser, default="mup")
    cli_args.add_optimizer(parser)
    cli_args.add_alignment(parser)
    parser.add_argument(
        "--lr-exponents",
        default="derived",
        choices=LR_EXPONENTS,
        help="derived per-layer c, or one width-independent LR: constant (c = 0 in every layer)",
    )
    parser.add_argument(
        "--widths",
        default="128,256,512,1024,2048",
        type=cli_args.widths,
        help="comma-separated widths; a slope is judged over at least 3",
    )
    cli_args.add_positive(
        parser, "--steps", 3, "training steps per run (slopes are fitted at every step 0..steps)"
    )
    cli_args.add_positive(parser, "--seeds", 2, "seeds per width; the ± spread needs 2 or more")
    cli_args.add_positive(
        parser,
        "--lr",
        None,
        "base learning rate at the base width (default: the check's own, per optimizer)",
        kind=float,
    )
    cli_args.add_positive(
        parser,
        "--base-width",
        None,
        "width where the learning rate is --lr (default: the smallest width)",
    )
    cli_args.add_positive(
        parser, "--depth", 2, "hidden layers (mlp) or blocks (transformer) of the built-in models"
    )
    cli_args.add_positive(
        parser, "--tolerance", 0.15, "largest |measured - predicted| slope that passes", kind=float
    )
    parser.add_argument("--out", default=None, help="folder for results.json and plots")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace another configuration's results in --out (a rerun of the same one resumes)",
    )
    parser.add_argument(
        "--fresh-batches",
        action="store_true",
        help="train on a fresh batch each step (measured on the first); default: one fixed batch",
    )
    cli_args.add_device(parser)
    parser.add_argument(
        "--layer-map",
        default=None,
        type=cli_args._argparse_type(lambda text: parse_layer_map(text), "layer-map"),
        help="layer kinds for parameters the shapes do not decide, as check(layer_map=): JSON "
        '\'{"regex": "kind"}\' or regex=kind pairs separated by commas '
        "(e.g. 'router=readout,experts=hidden')",
    )


def _add_depth_arguments(depth: argparse._ArgumentGroup) -> None:
    """The options of ``--vary depth``."""
    depth.add_argument(
        "--vary",
        default="width",
        choices=("width", "depth"),
        help="vary the width or the number of residual blocks",
    )
    depth.add_argument("--depths", default="2,4,8,16,32", help="numbers of residual blocks")
    depth.add_argument(
        "--width",
        default="128",
        help="width of the depth check; several (128,256) give the joint width x depth grid",
    )
    depth.add_argument(
        "--schemes",
        default="mup,depth-mup,completep",
        help="schemes compared across depth (mup = no depth rule)",
    )
    cli_args.add_positive(depth, "--base-depth", None, "default: smallest depth")
    depth.add_argument(
        "--depth-alignment",
        default="coherent",
        help="how the blocks' updates add: coherent (L^1) or independent (L^1/2)",
    )
    cli_args.add_positive(depth, "--depth-batch", 64, "rows of the fixed batch")


#: options of --vary depth only (default None: given means meant)
DEPTH_ONLY = ("base_depth",)


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(
            f"{what} = {text!r}: give comma-separated integers such as 2,4,8"
        ) from None
    if any(v < 1 for v in values):
        raise ValueError(f"{what} = {text!r}: every value must be a positive integer")
    return values


def run_depth(args: argparse.Namespace) -> int:
    """``--vary depth``: the depth coordinate check (abcparam.coordcheck.depth)."""
    # torch boundary: only this subcommand needs torch (`abcparam rules` stays light)
    from ..coordcheck.depth import DepthCheckConfig, run_depth_check, save

    if args.model not in ("mlp", "transformer"):
        raise ValueError(
            f"--vary depth runs the built-in residual models; --model {args.model!r} is not one "
            f"of them (accepted: mlp, transformer)"
        )
    config = DepthCheckConfig(
        model=args.model,
        schemes=tuple(args.schemes.split(",")),
        optimizer=args.optimizer,
        depths=_ints(args.depths, "--depths"),
        widths=_ints(args.width, "--width"),
        steps=args.steps,
        seeds=args.seeds,
        lr=args.lr if args.lr is not None else 1e-4,
        base_depth=args.base_depth,
        batch=args.depth_batch,
        depth_alignment=args.depth_alignment,
        tolerance=args.tolerance,
    )
    for scheme in config.schemes:  # fail fast on a bad scheme name
        import abcparam

        abcparam.rules(scheme, optimizer=config.optimizer, depth_alignment=args.depth_alignment)
    result = run_depth_check(config)
    print(result.table())
    print(
        "Legend: slope vs log L: the fitted exponent of depth L; predicted: the asymptotic rule's; "
        "finite-L: its finite-depth correction;\nok: yes / NO within the tolerance."
    )
    s = result.summary()
    print(
        f"\n{s['depth_passed']}/{s['depth_fits']} depth slopes within {args.tolerance} of the "
        f"measured-alignment prediction; {s['depth_preset_passed']}/{s['depth_fits']} of the "
        f"asymptotic ({args.depth_alignment}) one."
    )
    if s["width_fits"]:
        print(f"joint grid: {s['width_passed']}/{s['width_fits']} width slopes as predicted.")
    elif s["width_not_judged"]:
        print(f"joint grid: not judged: {s['width_not_judged']}.")
    if s["depth_not_judged"]:
        print(f"not judged: {s['depth_not_judged']}.")
    print(f"Rule: {s['rule']}.")
    for line in s["preset_misses"]:
        print("preset miss:", line)
    for line in s["misses"]:
        print("MISS:", line)
    if args.out:
        print(f"wrote {save(result, args.out)}")
    return 0 if not s["misses"] and not s["depth_not_judged"] else 1


def parse_layer_map(text: str) -> dict[str, str]:
    """``--layer-map``: a JSON object {regex: kind}, or ``regex=kind`` pairs joined by commas."""
    import json

    text = text.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"--layer-map {text!r} is not valid JSON ({err.msg})") from None
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ValueError(f"--layer-map {text!r}: expected a JSON object of regex -> kind")
        return value
    out = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        pattern, sep, kind = pair.rpartition("=")
        if not sep or not pattern or not kind:
            raise ValueError(
                f"--layer-map entry {pair!r}: expected regex=kind (e.g. 'router=readout') or a "
                f"JSON object"
            )
        out[pattern.strip()] = kind.strip()
    if not out:
        raise ValueError("--layer-map is empty: give regex=kind pairs or a JSON object")
    return out


def _user_model(args: argparse.Namespace, widths) -> int:
    """A coordinate check on a model shortcut or the user's own factory."""
    import abcparam

    # torch boundary: only this subcommand needs torch (`abcparam rules` stays light)
    from ..coordcheck.batches import BATCHES
    from ..coordcheck.check import check
    from ..coordcheck.options import CheckOptions

    if ":" in args.model and not args.model.startswith("hf:"):
        factory = load_object(args.model, "--model")
        if args.batch is None:
            raise ValueError(f"--model {args.model} needs --batch my_pkg.module:fn (seed -> batch)")
        batch = load_object(args.batch, "--batch")
    else:
        # torch boundary: only this subcommand needs torch (`abcparam rules` stays light)
        from ..torch.zoo import MODELS

        if args.model not in MODELS:
            raise ValueError(
                f"unknown model {args.model!r}; accepted: mlp, transformer, "
                f"{', '.join(MODELS)}, or package.module:factory"
            )
        factory, inputs = MODELS[args.model]
        batch = load_object(args.batch, "--batch") if args.batch else BATCHES[inputs]
    loss = load_object(args.loss, "--loss") if args.loss else None
    rules = rules_for_exponents(
        abcparam.rules(args.scheme, optimizer=args.optimizer, alignment=args.alignment),
        args.lr_exponents,
    )
    options = CheckOptions(
        widths=widths,
        steps=args.steps,
        seeds=args.seeds,
        lr=args.lr,
        base_width=args.base_width,
        tolerance=args.tolerance,
        device=args.device,
        fresh_batches=args.fresh_batches,
    )
    result = check(
        factory,
        rules,
        batch,
        options,
        loss=loss,
        name=args.model,
        layer_map=args.layer_map,
        out=args.out,
        overwrite=args.overwrite,
    )
    return _report(result, args)


def run(args: argparse.Namespace) -> int:
    with first_step() as started:
        status = _run(args)
    if started.seconds is not None:
        print(f"start-up: {started.seconds:.2f} s from process start to the first training step")
    return status


def _run(args: argparse.Namespace) -> int:
    # torch boundary: only this subcommand needs torch (`abcparam rules` stays light)
    from ..coordcheck.resources import check_device

    check_device(args.device)  # known and available, before any work
    if args.vary != "depth":
        given = [f"--{n.replace('_', '-')}" for n in DEPTH_ONLY if getattr(args, n) is not None]
        if given:
            raise ValueError(
                f"{', '.join(given)} applies to depth checks only; add --vary depth or leave it out"
            )
    if args.out is not None:
        validate.writable_dir(args.out, "--out")  # before any training, not after it
    if args.vary == "depth":
        with claim(args.out, name="--out") if args.out else contextlib.nullcontext():
            return run_depth(args)  # one process at a time writes into --out
    # torch boundary: only this subcommand needs torch (`abcparam rules` stays light)
    from ..coordcheck.builtin import run_coord_check

    widths = args.widths
    if args.model not in ("mlp", "transformer"):
        return _user_model(args, widths)
    if args.layer_map:
        raise ValueError(
            f"--layer-map is for your own model (--model my_pkg.module:factory or a shortcut); "
            f"the built-in {args.model!r} states every layer's kind"
        )
    result = run_coord_check(
        model=args.model,
        scheme=args.scheme,
        optimizer=args.optimizer,
        alignment=args.alignment,
        lr_exponents=args.lr_exponents,
        depth=args.depth,
        fixed_batch=not args.fresh_batches,
        widths=widths,
        steps=args.steps,
        seeds=args.seeds,
        lr=args.lr,
        base_width=args.base_width,
        tolerance=args.tolerance,
        out=args.out,
        device=args.device,
        overwrite=args.overwrite,
    )
    return _report(result, args)


#: the line under the coordinate-check table that says what each column holds
LEGEND = (
    "Legend: slopes are exponents of width (RMS ~ width^slope) at the step shown. predicted "
    "(preset): the scheme's prediction under its assumed alignment; predicted (measured α,ω,u): "
    "under the alignment measured in this run (the judged one); measured: the fitted slope{spread}; "
    "pass: yes / NO within the tolerance; reported: shown, not judged (e.g. trained outputs)."
)
SPREAD = (" ± its standard error across seeds", " (one seed: no spread across seeds)")


def _report(result, args: argparse.Namespace) -> int:
    import textwrap

    # the last step, and every judged miss at an earlier one (step 0 included)
    print(result.table(step=args.steps, misses=True))
    spread = SPREAD[0] if args.seeds > 1 else SPREAD[1]
    print(textwrap.fill(LEGEND.format(spread=spread), 100))
    for u in getattr(result, "unrecorded", []):
        print(f"not recorded: {u['name']} ({u['kind']}): {u['why']}")
    s = result.summary()
    for bad in result.nonfinite:
        print(
            f"non-finite {bad['quantity']} at layer {bad['layer']}, width {bad['width']}, "
            f"seed {bad['seed']}, step {bad['step']} (earlier measurements kept)"
        )
    if getattr(result, "diverged", bool(result.nonfinite)):
        runs = sorted({(bad["width"], bad["seed"]) for bad in result.nonfinite})
        at_init = sorted(
            {
                (bad["width"], bad["seed"])
                for bad in result.nonfinite
                if bad["step"] == 0 or (bad["quantity"] == "loss" and bad["step"] == 1)
            }
        )
        if at_init:  # before any update: the learning rate cannot be the cause
            print(
                f"\nnon-finite before any update ({', '.join(f'width {w} seed {sd}' for w, sd in at_init)}): "
                f"the data or the model's forward gives nan/inf at initialisation, not the "
                f"learning rate; the check FAILS."
            )
            return 1
        print(
            f"\ndiverged: {len(runs)} run(s) went non-finite "
            f"({', '.join(f'width {w} seed {sd}' for w, sd in runs)}); slopes from a diverged "
            f"check mean nothing, so it FAILS (lower --lr)."
        )
        return 1
    if s["verdict"] == "not judged":
        # torch boundary: only this subcommand needs torch (`abcparam rules` stays light)
        from ..coordcheck.judge import too_few_sizes

        shown = [f for f in result.fits if f.judged]
        print(
            f"\nnot judged: {too_few_sizes(args.widths)} (as reported: "
            f"{sum(f.passed for f in shown)}/{len(shown)} fits within {args.tolerance} of the "
            f"measured-alignment prediction)."
        )
        return 1
    print(
        f"\n{s['passed']}/{s['fits']} fits within {args.tolerance} of the measured-alignment "
        f"prediction; {s['preset_passed']}/{s['fits']} of the preset ({args.alignment}) one; "
        f"{s['reported_only']} reported, not judged; {s['unresolved']} unresolved (2 x stderr > "
        f"{args.tolerance}). Verdict: {s['verdict']}.\nRule: {s['rule']}."
    )
    if s["verdict"] == "incomplete":
        print("incomplete: a hidden layer was not recorded, so the check cannot pass")
    for flag in result.flags:
        print("preset miss:", flag)
    if args.out:
        print(f"wrote {Path(args.out) / 'results.json'} and plots")
    return 0 if result.passed else 1
