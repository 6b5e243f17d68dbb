"""``abcparam sweep``: LR sweeps across widths, then the transfer table and figure."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def _lrs(text: str) -> list[float]:
    lo, hi = (float(v) for v in text.split(":"))
    return [lo + i for i in range(int(hi - lo) + 1)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="mlp", choices=("mlp", "transformer"))
    parser.add_argument("--schemes", default="sp-constant-lr,sp,mup,u-mup")
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--widths", default="64,128,256,512")
    parser.add_argument("--lrs", default="-12:-2", help="log2 base LR range, inclusive, step 1")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--base-width", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backend", default="local", choices=("local", "ray"))
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", required=True, help="folder: runs.jsonl, summary.md, plot")
    parser.add_argument(
        "--vary",
        default="width",
        choices=("width", "depth"),
        help="sweep across widths (default) or across depths (--depths) at one width",
    )
    parser.add_argument("--depths", default="2,4,8,16", help="residual blocks, with --vary depth")
    parser.add_argument("--base-depth", type=int, default=None, help="default: smallest depth")


def run(args: argparse.Namespace) -> int:
    from ..records import save_json
    from ..transfer.analysis import summarise, table
    from ..transfer.plot import plot_sweep
    from ..transfer.sweep import grid, run_sweep

    started = time.time()
    out = Path(args.out)
    depths = None
    extra = {}
    if args.vary == "depth":
        depths = [int(d) for d in args.depths.split(",")]
        if args.base_depth is not None:
            extra["base_depth"] = args.base_depth
    configs = grid(
        args.model,
        args.schemes.split(","),
        args.optimizer,
        [int(w) for w in args.widths.split(",")],
        _lrs(args.lrs),
        args.seeds,
        steps=args.steps,
        base_width=args.base_width,
        device=args.device,
        depths=depths,
        **extra,
    )
    rows = run_sweep(configs, out / "runs.jsonl", backend=args.backend, workers=args.workers)
    summary = summarise(rows, vary=args.vary)
    text = table(summary, vary=args.vary)
    config = {k: v for k, v in vars(args).items() if not k.startswith("_") and k != "command"}
    save_json(out / "config.json", config, started=started)
    (out / "summary.md").write_text(text + "\n")
    plot_sweep(rows, out / "loss_vs_lr.png", f"{args.model}, {args.optimizer}", vary=args.vary)
    print(text)
    return 0
