"""Learning-rate transfer with Muon (both scalings, and Keller's under the entry view's table),
Lion and Adam, under muP: optimum drift per width doubling.

MLP on scikit-learn's digits (widths 64-256) and the character-level GPT on CPython's pydoc text
(widths 64-256), 2 seeds, a log2 LR grid, few steps (CPU).  One base LR scales every layer's
group (Muon's hidden and AdamW's other kinds alike), as the project's other sweeps do.  The
decisive pair is Muon with Keller Jordan's scaling under the spectral view's table (hidden c = 0)
and under the entry view's (c = 1/2): if the spectral view is right the first drifts ~0 and the
second by about +1/2 per doubling (its hidden LR shrinks too fast, so the best base LR grows).
Run: ``python experiments/muon_lion_transfer.py [--only NAME ...]``; results in
experiments/results/muon_lion_transfer/ (resumable: finished runs are kept in runs.jsonl).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from abcparam.records import device_name, save_json
from abcparam.transfer.analysis import summarise, table
from abcparam.transfer.plot import plot_sweep
from abcparam.transfer.sweep import RunConfig, run_sweep
from experiments.lab.paths import results_dir

OUT = "muon_lion_transfer"  # folder under experiments/results (experiments.lab.paths.results_dir)
#: label -> (optimizer, update view, log2 LR grid)
ARMS = {
    "adam": ("adam", "spectral", range(-11, -3)),
    "muon (Keller, spectral table)": ("muon", "spectral", range(-10, -4)),
    "muon (Keller, entry table)": ("muon", "entry", range(-10, -2)),
    "muon-rms (Moonshot, spectral table)": ("muon-rms", "spectral", range(-10, -4)),
    "lion": ("lion", "spectral", range(-14, -8)),
}
#: model -> (widths, steps, arms)
MODELS = {
    "mlp": ((64, 128, 256), 100, tuple(ARMS)),
    # the GPT is costlier on a shared 2-core CPU: 40 steps, 5 LRs, Adam next to Keller's Muon
    "transformer": ((64, 128, 256), 40, ("adam", "muon (Keller, spectral table)")),
}


#: the GPU run's GPT sweep: every arm, 200 steps, each arm's grid widened by two octaves upwards
#: (after 40 steps the CPU sweep's optima sat at the top of its 5-LR grids)
GPU_TRANSFORMER = ((64, 128, 256), 200, tuple(ARMS))
#: the GPU run's MLP sweep: the CPU sweep's arms and steps at widths 64-1024
GPU_MLP = ((64, 128, 256, 512, 1024), 100, tuple(ARMS))


def _sizes(model: str, gpu: bool) -> tuple:
    """(widths, steps, arms) of ``model``'s sweep on the CPU or in the GPU run."""
    if gpu:
        return {"transformer": GPU_TRANSFORMER, "mlp": GPU_MLP}[model]
    return MODELS[model]


def configs(
    model: str, arm: str, seeds: int, device: str = "cpu", gpu: bool = False
) -> list[RunConfig]:
    optimizer, view, lrs = ARMS[arm]
    widths, steps, _ = _sizes(model, gpu)
    if model == "transformer" and gpu:
        lrs = range(lrs.start, lrs.stop + 2)
    elif model == "transformer":  # the GPT's grids as first run (5 LRs)
        lrs = range(lrs.start, lrs.start + 5)
    return [
        RunConfig(
            model,
            "mup",
            optimizer,
            w,
            float(lr),
            seed,
            steps=steps,
            base_width=64,
            update_view=view,
            device=device,
        )
        for w in widths
        for lr in lrs
        for seed in range(seeds)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="mlp,transformer")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="where to train (cpu, cuda)")
    parser.add_argument(
        "--gpu-size",
        action="store_true",
        help="the GPU run's sizes: the GPT with every arm, 200 steps and wider LR grids; the MLP "
        "at widths 64-1024",
    )
    parser.add_argument("--out", default=None, help=f"default: experiments/results/{OUT}")
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else results_dir(OUT)
    started = time.time()
    summaries: dict = {}
    ran: dict = {}  # model -> the grid that actually ran (widths, steps, each arm's log2 LRs)
    for model in args.models.split(","):
        rows = []
        widths, steps, arms = _sizes(model, args.gpu_size)
        ran[model] = {"widths": list(widths), "steps": steps, "arms": {}}
        for arm in arms:
            grid = configs(model, arm, args.seeds, args.device, args.gpu_size)
            ran[model]["arms"][arm] = {
                "optimizer": ARMS[arm][0],
                "update_view": ARMS[arm][1],
                "log2_lrs": sorted({c.log2_lr for c in grid}),
            }
            got = run_sweep(grid, out / model / "runs.jsonl", workers=args.workers)
            rows += [{**r, "scheme": arm} for r in got]
        summary = summarise(rows)
        summaries[model] = summary
        text = table(summary)
        (out / model / "summary.md").write_text(text + "\n")
        plot_sweep(rows, out / model / "loss_vs_lr.png", f"{model}, muP")
        print(model, "\n" + text, flush=True)
    save_json(
        out / "summary.json",
        {
            "scheme": "mup",
            "models": ran,
            "device": args.device,
            "seeds": args.seeds,
            "summary": summaries,
        },
        started=started,
        device=device_name(args.device),  # the workers trained there, in other processes
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
