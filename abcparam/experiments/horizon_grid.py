"""η*(T, B) on the character-level GPT (pydoc text), μP, AdamW: one warmup-stable-decay run per
(width, batch, LR, seed) with 10 % linear-decay branches at every horizon (MiniCPM's "wind
tunnel"); then the slopes of log η* against log T (fixed B), log B (fixed T) and log B at fixed
tokens, with bootstrap intervals over seeds, per width.

CPU default (about 40 min on two shared cores): widths 32, 64 (base 32); batches 4, 8, 16
sequences of 32 characters; horizons 125, 250, 500 steps; log2 LR −8.5..−5.5 in half steps;
3 seeds.  ``--quick``:
a seconds-long smoke version.  The GPU grid is ``experiments/gpu/horizon_grid.sh``.
Run: ``python experiments/horizon_grid.py``; results in experiments/results/horizon_grid
(runs.jsonl = every branch's loss and curve, config.json, summary.json, summary.md).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..records import load_json, results_dir, save_json
from . import reproducible

FULL = {
    "widths": "32,64",
    "batches": "4,8,16",
    "horizons": "125,250,500",
    "lrs": "-8.5:-5.5:0.5",
    "seeds": 3,
    "warmup": 20,
}
QUICK = {
    "widths": "16,32",
    "batches": "2,4",
    "horizons": "8,16",
    "lrs": "-8:-6:1",
    "seeds": 2,
    "warmup": 2,
}


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"{text!r}: accepted: comma-separated integers, e.g. 64,128") from None


def lr_grid(text: str) -> list[float]:
    """``lo:hi:step`` (log2, inclusive) -> the grid."""
    try:
        lo, hi, step = (float(x) for x in text.split(":"))
    except ValueError:
        raise ValueError(f"--lrs {text!r}; accepted: lo:hi:step in log2, e.g. -9:-6:0.5") from None
    if step <= 0 or hi < lo:
        raise ValueError(f"--lrs {text!r}; accepted: lo <= hi and step > 0")
    count = round((hi - lo) / step)
    return [lo + i * step for i in range(count + 1)]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a seconds-long smoke version")
    for name in ("widths", "batches", "horizons", "lrs"):
        p.add_argument(f"--{name}", default=None)
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--scheme", default="mup")
    p.add_argument("--base-width", type=int, default=None, help="default: the smallest width")
    p.add_argument("--decay-fraction", type=float, default=0.1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) the grid, then write the summary from every saved run."""
    from ..transfer.horizon import grid, run_grid
    from ..transfer.horizon_fit import markdown, summarise

    args = parser().parse_args(argv)
    reproducible()
    sizes = dict(QUICK if args.quick else FULL)
    for name in ("widths", "batches", "horizons", "lrs", "seeds", "warmup"):
        if getattr(args, name) is not None:
            sizes[name] = getattr(args, name)
    out = Path(args.out or results_dir("horizon_grid_quick" if args.quick else "horizon_grid"))
    out.mkdir(parents=True, exist_ok=True)
    base_width = args.base_width or min(_ints(sizes["widths"]))
    configs = grid(
        _ints(sizes["widths"]),
        _ints(sizes["batches"]),
        lr_grid(sizes["lrs"]),
        int(sizes["seeds"]),
        horizons=tuple(_ints(sizes["horizons"])),
        warmup=int(sizes["warmup"]),
        weight_decay=args.weight_decay,
        scheme=args.scheme,
        base_width=base_width,
        decay_fraction=args.decay_fraction,
        device=args.device,
    )
    started = time.time()
    command = "python experiments/horizon_grid.py " + " ".join(argv or [])
    config = {"sizes": sizes, "base_width": base_width, "runs": len(configs), **vars(args)}
    save_json(out / "config.json", config, command=command.strip(), started=started)
    rows = run_grid(configs, out / "runs.jsonl", workers=args.workers)
    summary = summarise(rows)
    save_json(out / "summary.json", summary, command=command.strip(), started=started)
    (out / "summary.md").write_text(markdown(summary))
    return 0


def load_summary(out: Path | None = None) -> dict:
    """The saved summary (for the book)."""
    return load_json((out or results_dir("horizon_grid")) / "summary.json")
