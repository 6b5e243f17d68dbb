"""Everything worth a GPU, in one run: the transformer coordinate check at widths 128..8192 for
SP, muP and u-muP (bf16 autocast on CUDA), and the LR-transfer sweep of the character-level GPT
at widths 256..4096; results and plots under ``experiments/results/gpu/``.  Sized to finish in
under 10 minutes on one H200-class GPU.  The check ran on an H200 (2026-11-30, 60-79 s per scheme;
experiments/results/gpu/); the sweep has not yet run to the end there.

Run: ``experiments/gpu/run_all.sh`` (or ``python -m experiments.lab.gpu_all``);
``--tiny --device cpu`` runs the same pipeline at tiny widths, one scheme (what the test suite
does).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

OUT = Path("experiments/results/gpu")
SCHEMES = ("sp", "mup", "u-mup")
FULL = {
    "check_widths": (128, 256, 512, 1024, 2048, 4096, 8192),
    "check_steps": 3,
    "check_seeds": 2,
    "sweep_widths": "256,512,1024,2048,4096",
    "sweep_lrs": "-14:-4",
    "sweep_steps": "200",
    "sweep_seeds": "2",
    "schemes": SCHEMES,
    "sweep_schemes": "sp-constant-lr,sp,mup,u-mup",
    # 6 workers: 16 (one per CPU core) ran out of the H200's memory at width 4096, ~9 GiB each
    "workers": "6",
}
TINY = {
    "check_widths": (32, 64),
    "check_steps": 1,
    "check_seeds": 1,
    "sweep_widths": "32,64",
    "sweep_lrs": "-8:-7",
    "sweep_steps": "2",
    "sweep_seeds": "1",
    "schemes": ("mup",),
    "sweep_schemes": "mup",
    "workers": "1",
}


def _parser() -> argparse.ArgumentParser:
    """The command line of :func:`main`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny widths (a CPU test)")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument(
        "--no-autocast", action="store_true", help="float32 forward (default: bf16 on CUDA)"
    )
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--skip-check", action="store_true", help="the sweep only")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import torch

    from abcparam.cli import main as cli
    from abcparam.coordcheck import run_coord_check
    from abcparam.records import save_json

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {args.device}: CUDA is not available here; use --device cpu")
    size = TINY if args.tiny else FULL
    out = Path(args.out)
    autocast = None if args.no_autocast or not args.device.startswith("cuda") else "bfloat16"
    started = time.time()
    timings = {}
    summaries = {}
    for scheme in () if args.skip_check else size["schemes"]:
        t0 = time.time()
        result = run_coord_check(
            model="transformer",
            scheme=scheme,
            optimizer="adam",
            widths=size["check_widths"],
            steps=size["check_steps"],
            seeds=size["check_seeds"],
            device=args.device,
            autocast=autocast,
            out=out / f"coordcheck_transformer_{scheme}",
        )
        timings[f"coordcheck_{scheme}_s"] = round(time.time() - t0, 1)
        summaries[scheme] = result.summary()
        print(f"coord-check {scheme}: {summaries[scheme]}", flush=True)
    if not args.skip_sweep:
        t0 = time.time()
        code = cli(
            [
                "sweep",
                "--model",
                "transformer",
                "--schemes",
                size["sweep_schemes"],
                "--optimizer",
                "adam",
                "--widths",
                size["sweep_widths"],
                f"--lrs={size['sweep_lrs']}",
                "--seeds",
                size["sweep_seeds"],
                "--steps",
                size["sweep_steps"],
                "--base-width",
                size["sweep_widths"].split(",")[0],
                "--device",
                args.device,
                "--out",
                str(out / "transfer_transformer"),
            ]
            + (["--workers", size["workers"]] if size["workers"] else [])
        )
        timings["sweep_s"] = round(time.time() - t0, 1)
        if code:
            return code
    save_json(
        out / "summary.json",
        {
            "device": args.device,
            "autocast": autocast,
            "sizes": {  # the grids that ran: a skipped stage's sizes are left out
                k: list(v) if isinstance(v, tuple) else v
                for k, v in size.items()
                if not (args.skip_sweep and k.startswith("sweep"))
                and not (args.skip_check and k.startswith("check"))
            },
            "coordcheck": summaries,
            "seconds": timings,
        },
        started=started,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
