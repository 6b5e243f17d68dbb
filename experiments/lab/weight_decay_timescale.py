"""The AdamW weight-decay timescale on the character-level GPT (pydoc text), μP, coupled AdamW:
λ swept at two batch sizes, each at the square-root-rule LR, with warmup-stable-decay branches at
several horizons; is the optimal τ_epoch = B/(ηλD) the same in every cell (Wang & Aitchison 2024,
arXiv 2405.13698), and does the calculator (``abcparam.transfer``, rules sde-batch and
ema-timescale) predict the other cells' λ* from the first one?

CPU default (about 10 min on two shared cores): width 64 (base 32), batches 4 and 16 sequences of
32 characters at log2 η = −7 and −6, horizons 125, 250, 500, log2 λ from −4 to 4, 3 seeds.
``--train-chars N`` cuts the training text to its first N characters: a data-limited run that
passes over it many times, where decay regularises and λ* has an interior optimum.
``--corpus stdlib`` trains on the standard library's source, ten times the pydoc text, so that
long runs at large batches stay within about one pass (D = T·B).
Run: ``python experiments/weight_decay_timescale.py [--quick]``; results in
experiments/results/weight_decay_timescale (runs.jsonl, config.json, summary.json, summary.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from abcparam.records import save_json
from abcparam.transfer.corpora import CORPORA
from experiments.lab.paths import results_dir

from . import reproducible

CPU: dict[str, Any] = {
    "width": 64,
    "base_width": 32,
    "batches": "4,16",
    #: log2 η per batch: the horizon grid's optimum at batch 4 (T = 250, width 64) and the SDE
    #: square-root rule's step from it to batch 16 (×√4)
    "log2_lrs": "-7,-6",
    "horizons": "125,250,500",
    "log2_wds": "-4:4:1",
    "seeds": 3,
    "warmup": 20,
}
#: for one GPU (``experiments/gpu/horizon_grid.sh``): width 256, horizons where decay can act
#: (to 20k steps), λ down to 2^-8; the LRs follow the square-root rule from batch 16 to 64
GPU: dict[str, Any] = {
    "width": 256,
    "base_width": 64,
    "batches": "16,64",
    "log2_lrs": "-8,-7",
    "horizons": "2500,5000,10000,20000",
    "log2_wds": "-8:2:1",
    "seeds": 3,
    "warmup": 200,
}
#: loss rises (nats) above the small-λ floor that define where decay starts to cost loss: the
#: slope must not hinge on which one is picked (seed s.e. of a cell's loss: about 0.005-0.01)
DAMAGE_RISES = (0.01, 0.02, 0.05)
QUICK: dict[str, Any] = {
    "width": 16,
    "base_width": 16,
    "batches": "2,4",
    "log2_lrs": "-7,-6.5",
    "horizons": "8,16",
    "log2_wds": "-2:2:2",
    "seeds": 2,
    "warmup": 2,
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a seconds-long smoke version")
    p.add_argument("--size", choices=("quick", "cpu", "gpu"), default=None)
    p.add_argument("--device", default="cpu")
    for name in ("batches", "log2-lrs", "horizons", "log2-wds"):
        p.add_argument(f"--{name}", default=None)
    p.add_argument("--width", type=int, default=None)
    p.add_argument(
        "--train-chars",
        type=int,
        default=None,
        help="train on the text's first N characters only (many epochs: decay can regularise)",
    )
    p.add_argument(
        "--corpus",
        choices=CORPORA,
        default=None,
        help="the training text (default pydoc; stdlib, ten times longer, keeps runs to one pass)",
    )
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default=None)
    p.add_argument("--summary-only", action="store_true")
    return p


def calculator_ratio(base: dict, target: dict) -> float:
    """λ_target / λ_base from ``abcparam.transfer`` (rules sde-batch and ema-timescale, μP,
    coupled AdamW) at one width (the ratio does not depend on which); each side's ``samples``
    is its data size D (default: one pass, T·B)."""
    from abcparam.calculator import transfer

    result = transfer(
        base={
            "width": 64,
            "batch": base["batch"],
            "steps": base["horizon"],
            "data": base.get("samples", base["horizon"] * base["batch"]),
            "lr": 2.0 ** base["log2_lr"],
            "weight_decay": 1.0,
        },
        target={
            "width": 64,
            "batch": target["batch"],
            "steps": target["horizon"],
            "data": target.get("samples", target["horizon"] * target["batch"]),
        },
        scheme="mup",
        optimizer="adamw",
        rules=("sde-batch", "ema-timescale"),
    )
    lr_ratio = result["lr", "hidden"].factor
    used = 2.0 ** (target["log2_lr"] - base["log2_lr"])
    if abs(lr_ratio / used - 1) > 1e-9:  # the sweep's LRs must be the calculator's
        raise ValueError(
            f"the sweep's LR ratio {used:g} is not the calculator's {lr_ratio:g}: the prediction "
            "would compare different η"
        )
    return result["weight_decay", "hidden"].factor


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) the decay sweep, then write the summary from every saved run."""
    from abcparam.transfer.horizon import HorizonRun, finished, run_grid
    from abcparam.transfer.timescale_fit import (
        damage_onsets,
        timescale_markdown,
        timescale_summary,
    )

    from .horizon_grid import _ints, lr_grid

    args = parser().parse_args(argv)
    reproducible()
    size = args.size or ("quick" if args.quick else "cpu")
    sizes = dict({"quick": QUICK, "cpu": CPU, "gpu": GPU}[size])
    for name in (
        "batches",
        "log2_lrs",
        "horizons",
        "log2_wds",
        "width",
        "seeds",
        "train_chars",
        "corpus",
    ):
        if getattr(args, name) is not None:
            sizes[name] = getattr(args, name)
    batches = _ints(sizes["batches"])
    lrs = [float(x) for x in str(sizes["log2_lrs"]).split(",")]
    if len(lrs) != len(batches):
        raise ValueError(f"--log2-lrs {sizes['log2_lrs']!r}: accepted: one log2 LR per batch")
    suffix = {"quick": "_quick", "cpu": "", "gpu": "_gpu"}[size]
    out = Path(args.out or results_dir("weight_decay_timescale" + suffix))
    out.mkdir(parents=True, exist_ok=True)
    configs = [
        HorizonRun(
            width=int(sizes["width"]),
            batch=batch,
            log2_lr=lr,
            seed=seed,
            horizons=tuple(_ints(sizes["horizons"])),
            warmup=int(sizes["warmup"]),
            weight_decay=2.0**log2_wd,
            base_width=int(sizes["base_width"]),
            train_chars=int(sizes.get("train_chars") or 0),
            corpus=sizes.get("corpus", "pydoc"),
            device=args.device,
        )
        for batch, lr in zip(batches, lrs, strict=True)
        for log2_wd in lr_grid(sizes["log2_wds"])
        for seed in range(int(sizes["seeds"]))
    ]
    started = time.time()
    command = (
        "python experiments/weight_decay_timescale.py "
        + " ".join(sys.argv[1:] if argv is None else argv)
    ).strip()
    if not args.summary_only:
        save_json(out / "config.json", {"sizes": sizes, "runs": len(configs)}, command=command)
        run_grid(configs, out / "runs.jsonl", workers=args.workers)
    keys = {c.key for c in configs}
    rows = [r for k, r in finished(out / "runs.jsonl").items() if k in keys]
    summary = timescale_summary(rows, predict=calculator_ratio)
    # where no λ helps, where decay starts to cost loss (and how that moves with T and B)
    summary["damage_onsets"] = [damage_onsets(rows, rise) for rise in DAMAGE_RISES]
    save_json(out / "summary.json", summary, command=command, started=started)
    (out / "summary.md").write_text(timescale_markdown(summary))
    return 0
