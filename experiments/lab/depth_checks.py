"""Depth coordinate checks on CPU: the pre-LN residual MLP (digits) and the GPT (pydoc text)
across depths, SP/μP (no depth rule) vs Depth-μP vs CompleteP, and a joint width x depth grid.

Scaled to a shared 2-core CPU: MLP width 128, depths 2..32, 3 Adam steps, 3 seeds; GPT width 64,
depths 2..16, 3 steps, 2 seeds; joint grid MLP widths 128, 256 x depths 2..16, 2 seeds.  Adam LR
1e-4 keeps every run in the linear regime (larger rates saturate the changes and flatten slopes).

Run: ``python experiments/depth_checks.py [--quick]``; results in
experiments/results/depth_coordcheck/{mlp,gpt,joint} (results.json, summary.md, depth_check.png).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from abcparam.coordcheck.depth import DepthCheckConfig, load, run_depth_check, save

RESULTS = Path(__file__).resolve().parents[2] / "experiments" / "results" / "depth_coordcheck"
CHECKS = {
    "mlp": DepthCheckConfig(
        model="mlp", depths=(2, 4, 8, 16, 32), widths=(128,), steps=3, seeds=3, lr=1e-4
    ),
    "gpt": DepthCheckConfig(
        model="transformer", depths=(2, 4, 8, 16), widths=(64,), steps=3, seeds=2, lr=1e-4
    ),
    "joint": DepthCheckConfig(
        model="mlp",
        schemes=("mup", "completep"),
        depths=(2, 4, 8, 16),
        widths=(128, 256),
        steps=3,
        seeds=2,
        lr=1e-4,
    ),
}
QUICK = DepthCheckConfig(model="mlp", depths=(2, 4, 8), widths=(16,), steps=1, seeds=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke version")
    parser.add_argument("--only", default=None, help="comma list of mlp, gpt, joint")
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--rejudge",
        action="store_true",
        help="re-fit and re-judge the saved records with the current predictions (no training)",
    )
    args = parser.parse_args(argv)
    root = Path(args.out) if args.out else RESULTS
    checks = {"quick": QUICK} if args.quick else CHECKS
    if args.only:
        checks = {k: v for k, v in checks.items() if k in args.only.split(",")}
    for name, config in checks.items():
        started = time.time()
        command = "python experiments/depth_checks.py" + (" --quick" if args.quick else "")
        if args.rejudge:
            result = load(root / name / "results.json")
            command += f" --rejudge --only {name} (records from the original run)"
        else:
            result = run_depth_check(config)
        path = save(result, root / name, command=command, started=started)
        s = result.summary()
        print(
            f"{name}: {s['depth_passed']}/{s['depth_fits']} depth slopes as predicted "
            f"(asymptotic preset: {s['depth_preset_passed']}); joint width slopes "
            f"{s['width_passed']}/{s['width_fits']}"
            + (f" ({s['width_not_judged']})" if s["width_not_judged"] else "")
            + f"; wrote {path}\nrule: {s['rule']}"
        )
    return 0
