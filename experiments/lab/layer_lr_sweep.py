"""One layer kind's learning rate swept alone across widths: does its optimum drift as the preset
alignment predicts or as the measured one does?

Every other kind trains at a fixed base LR with its derived width factor; the swept kind's base
LR runs over a log2 grid, and its actual LR is ``base * (n/n0)^-c`` with the scheme's derived c.
If the best actual LR scales as ``n^-c*``, the best *base* LR drifts by ``c - c*`` per doubling of
width: 0 when the derived exponent is right.  ``c*`` is predicted twice by the engine: under the
preset ("full") alignment and under the alignment measured on the same task
(:mod:`experiments.lab.alignment_real`).

Run: ``python -m experiments.lab.layer_lr_sweep --out experiments/results/layer_lr_sweep``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: (task, swept kind, schemes, widths, log2 LR grid, fixed log2 LR of the other kinds, steps)
SWEEPS: dict[str, dict[str, Any]] = {
    "mlp": dict(
        model="mlp",
        widths=(128, 256, 512),
        lrs=range(-12, -1),
        fixed=-7.0,
        steps=300,
        base_width=128,
    ),
    "gpt": dict(
        model="transformer",
        widths=(64, 128, 256),
        lrs=range(-11, -2),
        fixed=-7.0,
        steps=150,
        base_width=64,
    ),
}
QUICK: dict[str, dict[str, Any]] = {
    "mlp": dict(
        model="mlp", widths=(32, 64), lrs=range(-8, -5), fixed=-7.0, steps=5, base_width=32
    ),
}


def sweep(
    task: str,
    kind: str,
    schemes: Sequence[str],
    out: Path,
    quick: bool = False,
    seeds: int = 2,
    progress: bool = True,
    lrs: Sequence[float] | None = None,
) -> dict:
    """Run (or resume) the sweep of ``kind``'s LR for ``schemes`` on ``task``; summary per scheme."""
    from abcparam.transfer import grid, run_sweep, summarise

    cfg = (QUICK if quick else SWEEPS)[task]
    configs = grid(
        cfg["model"],
        schemes,
        "adam",
        cfg["widths"],
        [float(v) for v in (cfg["lrs"] if lrs is None else lrs)],
        seeds,
        steps=cfg["steps"],
        base_width=cfg["base_width"],
        sweep_kind=kind,
        fixed_log2_lr=cfg["fixed"],
    )
    rows = run_sweep(configs, out / f"{task}_{kind}.jsonl", workers=1, progress=progress)
    summary = summarise(rows)
    return {
        scheme: {
            "optimum": {str(w): list(v) for w, v in s["optimum"].items()},
            "drift": list(s["drift"]),
        }
        for scheme, s in summary.items()
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="experiments/results/layer_lr_sweep")
    parser.add_argument("--task", choices=sorted(SWEEPS), default="mlp")
    parser.add_argument("--kinds", default="readout,hidden")
    parser.add_argument("--schemes", default="sp,mup")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--lrs", default=None, help="log2 base-LR grid lo:hi (step 1)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    lrs = None
    if args.lrs is not None:
        lo, hi = (int(v) for v in args.lrs.split(":"))
        lrs = [float(v) for v in range(lo, hi + 1)]
    import torch

    torch.set_num_threads(1)
    started = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {}
    for kind in args.kinds.split(","):
        result[kind] = sweep(
            args.task, kind, args.schemes.split(","), out, args.quick, args.seeds, lrs=lrs
        )
    from abcparam.records import save_json

    cfg = dict((QUICK if args.quick else SWEEPS)[args.task])
    cfg.update(
        lrs=lrs if lrs is not None else [float(v) for v in cfg["lrs"]],
        kinds=args.kinds.split(","),
        schemes=args.schemes.split(","),
        seeds=args.seeds,
        optimizer="adam",
    )
    save_json(
        out / f"{args.task}_{'_'.join(args.kinds.split(','))}_summary.json",
        {"task": args.task, "config": cfg, "sweeps": result},
        command="python -m experiments.lab.layer_lr_sweep "
        + " ".join(argv if argv is not None else []),
        started=started,
    )
    for kind, by_scheme in result.items():
        for scheme, s in by_scheme.items():
            print(f"{args.task} {kind} {scheme}: drift {s['drift'][0]:+.2f} ± {s['drift'][1]:.2f}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
