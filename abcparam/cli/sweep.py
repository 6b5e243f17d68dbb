"""``abcparam sweep``: LR sweeps across widths, then the transfer table and figure."""

from __future__ import annotations

import argparse
import importlib.util
import time

from .. import validate
from ..atomic import write_text
from ..records import save_json
from . import args as cli_args


def _schemes(text: str) -> list[str]:
    # torch boundary: only this subcommand needs torch (`abcparam rules` stays light)
    from ..transfer.sweep import sweep_scheme

    names = [sweep_scheme(name.strip()) for name in text.split(",")]
    if len(set(names)) != len(names):
        raise ValueError(f"schemes = {text!r} names a scheme twice; accepted: distinct names")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default="mlp",
        help="mlp (digits), transformer (pydoc text), or my_pkg.module:factory, a function "
        "width -> nn.Module that the coordinate check accepts (then --batch)",
    )
    parser.add_argument(
        "--batch",
        default=None,
        help="with a user model: my_pkg.module:fn, a function index -> (inputs, targets); step t "
        "of seed s trains on fn(s * 100003 + t), the loss is measured on the 4 batches after",
    )
    parser.add_argument(
        "--loss",
        default=None,
        help="with a user model: my_pkg.module:fn(output, targets) -> scalar (default: "
        "cross-entropy on the logits or output.logits)",
    )
    parser.add_argument(
        "--schemes",
        default="sp-constant-lr,sp,mup,u-mup",
        type=cli_args._argparse_type(_schemes, "schemes"),
        help="comma-separated sweep schemes (e.g. sp-constant-lr,sp,mup,u-mup)",
    )
    cli_args.add_optimizer(parser)
    parser.add_argument(
        "--widths", default="64,128,256,512", help="at least two (one with --vary depth)"
    )
    parser.add_argument(
        "--lrs",
        default="-12:-2",
        type=cli_args.lr_range,
        help="log2 base LR grid lo:hi[:step], both ends included (default step 1)",
    )
    cli_args.add_positive(parser, "--seeds", 2, "seeds per (width, LR)")
    cli_args.add_positive(parser, "--steps", 200, "training steps per run")
    cli_args.add_positive(
        parser, "--base-width", 64, "width where the base learning rate applies as given"
    )
    cli_args.add_device(parser)
    parser.add_argument(
        "--backend",
        default="local",
        choices=("local", "ray"),
        help="local worker processes, or a Ray cluster",
    )
    cli_args.add_positive(
        parser, "--workers", None, "parallel runs (default: one per CPU core, or per GPU)"
    )
    cli_args.add_positive(
        parser,
        "--gpus-per-run",
        1.0,
        "--backend ray on CUDA: GPUs each run's task asks for (0.25: four runs per GPU)",
        kind=float,
    )
    parser.add_argument("--out", required=True, help="folder: runs.jsonl, summary.md, plot")
    parser.add_argument(
        "--vary",
        default="width",
        choices=("width", "depth"),
        help="sweep across widths or across depths (--depths) at one width",
    )
    parser.add_argument("--depths", default="2,4,8,16", help="residual blocks, with --vary depth")
    parser.add_argument(
        "--batched",
        action="store_true",
        help="train the runs that differ only in LR and seed as one stacked model (same losses "
        "to 1e-5; mlp/transformer, Adam/AdamW/Adam-atan2/Lion/Muon, cpu; --workers = threads)",
    )
    parser.add_argument("--base-depth", type=int, default=None, help="default: smallest depth")


def run(args: argparse.Namespace) -> int:
    # torch boundary: only this subcommand needs torch (`abcparam rules` stays light)
    from ..transfer.analysis import summarise, table
    from ..transfer.plot import plot_sweep
    from ..transfer.sweep import grid, run_sweep

    if args.backend == "ray" and importlib.util.find_spec("ray") is None:
        raise ValueError("backend 'ray' needs Ray (pip install 'ray[default]'); accepted: local")
    from ..coordcheck.resources import check_device

    check_device(args.device)  # known and available here, not in a worker after the start
    if args.vary != "depth" and args.base_depth is not None:
        raise ValueError(
            "--base-depth applies to depth sweeps only; add --vary depth or leave it out"
        )
    from ..transfer.sweep import MODELS, is_user_model

    depths = None
    extra: dict = {}
    if is_user_model(args.model):
        if args.batch is None:
            raise ValueError(
                f"--model {args.model} needs --batch my_pkg.module:fn (index -> batch)"
            )
        extra["batch_fn"] = args.batch
        if args.loss:
            extra["loss_fn"] = args.loss
    elif args.model not in MODELS:
        raise ValueError(
            f"unknown model {args.model!r}; accepted: {', '.join(MODELS)}, or package.module:factory"
        )
    elif args.batch or args.loss:
        raise ValueError("--batch and --loss are for a user model (--model my_pkg.module:factory)")
    if args.vary == "depth":
        depths = list(validate.widths(args.depths, "depths"))
        if args.base_depth is not None:
            extra["base_depth"] = args.base_depth
        widths = [validate.positive_int(w, "width") for w in args.widths.split(",")]
    else:
        widths = list(validate.widths(args.widths, "widths"))
    out = validate.writable_dir(args.out, "--out")  # before any training, not after it
    started = time.time()
    configs = grid(
        args.model,
        args.schemes,
        args.optimizer,
        widths,
        args.lrs,
        args.seeds,
        steps=args.steps,
        base_width=args.base_width,
        device=args.device,
        depths=depths,
        **extra,
    )
    rows = run_sweep(
        configs,
        out / "runs.jsonl",
        backend=args.backend,
        workers=args.workers,
        gpus_per_run=args.gpus_per_run,
        batched=args.batched,
    )
    summary = summarise(rows, vary=args.vary)
    text = table(summary, vary=args.vary)
    config = {
        k: v
        for k, v in vars(args).items()
        if not k.startswith("_") and k not in ("command", "debug")
    }
    save_json(out / "config.json", config, started=started)
    write_text(out / "summary.md", text + "\n")
    plot_sweep(rows, out / "loss_vs_lr.png", f"{args.model}, {args.optimizer}", vary=args.vary)
    print(text)
    print(
        "Legend: log2 lr*: the best base learning rate (log2) at that size, mean ± standard error "
        "across seeds (≤ / ≥: at the grid's edge);\ndrift: how far it moves per doubling (0 when "
        "the learning rate transfers)."
    )
    return 0
