"""Coordinate checks with Muon and Lion on the MLP and the GPT, and the alignment of Muon's updates.

The engine predicts, under its named "spectral alignment" assumption, that a full-rank
orthogonalised hidden update has entries n^-1/2 (muP, Keller Jordan's scaling, c = 0) and
alignment alpha = 1/2, so its product dW z0 stays Theta(1).  A Muon update is full rank only when
the batch has at least as many rows as the matrix is wide; with fewer rows it is a partial
isometry on the batch's span: entries n^-1, alpha = 1 -- the same product.  Both regimes are run.

CPU sizes (torch.optim.Muon's Newton-Schulz runs in bfloat16 and is slow on the CPU at large
widths): MLP widths 64-512 (Lion 128-1024), GPT widths 64-256, 3 steps on one batch, plus 100 steps
on fresh batches at widths 64-256; 2 seeds.  Gaussian inputs with random labels (MLP) and random
tokens (GPT), as in the project's other coordinate checks: these measure scaling, not learning.
Run: ``python experiments/muon_lion_coordcheck.py [--only NAME ...]`` (about 10 CPU-minutes).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from matplotlib.figure import Figure

from abcparam.coordcheck import run_coord_check
from abcparam.coordcheck.result import NULL_REASONS
from abcparam.records import merged_device, save_json
from experiments.lab.paths import results_dir

OUT = "muon_lion_cpu"  # folder under experiments/results (experiments.lab.paths.results_dir)
#: name -> (model, optimizer, widths, batch rows, steps, fixed batch, base LR)
CHECKS = {
    "mlp_muon_fullrank": ("mlp", "muon", (64, 128, 256, 512), 1024, 3, True, 2e-2),
    "mlp_muon_lowrank": ("mlp", "muon", (64, 128, 256, 512), 32, 3, True, 2e-2),
    "mlp_muon_rms_fullrank": ("mlp", "muon-rms", (64, 128, 256, 512), 1024, 3, True, 1e-2),
    "mlp_lion": ("mlp", "lion", (128, 256, 512, 1024), 64, 3, True, 1e-3),
    "gpt_muon": ("transformer", "muon", (64, 128, 256), 256, 3, True, 2e-2),
    "gpt_lion": ("transformer", "lion", (64, 128, 256), 64, 3, True, 1e-3),
    "mlp_muon_fresh100": ("mlp", "muon", (64, 128, 256), 64, 100, False, 2e-2),
    "mlp_lion_fresh100": ("mlp", "lion", (64, 128, 256), 64, 100, False, 1e-3),
}
_MLP, _GPT = (128, 256, 512, 1024, 2048), (128, 256, 512, 1024)
#: the issue's sizes (a GPU run): MLP widths 128-2048 (4096 rows keep the batch wider than the
#: widest matrix), GPT widths 128-1024, 3 steps on one batch and 100 on fresh batches
ISSUE_CHECKS = {
    "mlp_muon_fullrank": ("mlp", "muon", _MLP, 4096, 3, True, 2e-2),
    "mlp_muon_lowrank": ("mlp", "muon", _MLP, 32, 3, True, 2e-2),
    "mlp_muon_rms_fullrank": ("mlp", "muon-rms", _MLP, 4096, 3, True, 1e-2),
    "mlp_lion": ("mlp", "lion", _MLP, 64, 3, True, 1e-3),
    "gpt_muon": ("transformer", "muon", _GPT, 256, 3, True, 2e-2),
    "gpt_lion": ("transformer", "lion", _GPT, 64, 3, True, 1e-3),
    "mlp_muon_fresh100": ("mlp", "muon", _MLP, 512, 100, False, 2e-2),
    "mlp_lion_fresh100": ("mlp", "lion", _MLP, 512, 100, False, 1e-3),
    "gpt_muon_fresh100": ("transformer", "muon", _GPT, 256, 100, False, 2e-2),
    "gpt_lion_fresh100": ("transformer", "lion", _GPT, 256, 100, False, 1e-3),
}
#: a test of the script (seconds): the low-rank Muon case and Lion on a small MLP
QUICK_CHECKS = {
    "mlp_muon_lowrank": ("mlp", "muon", (64, 128, 256), 16, 2, True, 2e-2),
    "mlp_lion": ("mlp", "lion", (64, 128, 256), 16, 2, True, 1e-3),
}
#: is Lion's loss of sign coherence on the GPT (fresh batches) still growing at width 2048?
WIDE_CHECKS = {
    "gpt_lion_fresh100": ("transformer", "lion", _GPT + (2048,), 256, 100, False, 1e-3),
}
SIZES = {"cpu": CHECKS, "issue": ISSUE_CHECKS, "quick": QUICK_CHECKS, "wide": WIDE_CHECKS}


def _alpha(result) -> dict[int, list[float]]:
    """Measured alpha of the hidden layers' updates per step."""
    kinds = {f["layer"]: f["kind"] for f in result.fits}
    out: dict[int, list[float]] = {}
    for f in result.alignment_fits:
        if f["variable"] == "alpha" and kinds.get(f["layer"]) == "hidden":
            out.setdefault(f["step"], []).append(f["exponent"])
    return out


def _update_slopes(result) -> dict[str, float]:
    last = max(f["step"] for f in result.fits)
    return {
        f["layer"]: f["measured_slope"]
        for f in result.fits
        if f["quantity"] == "update" and f["step"] == last
    }


def plot(summary: dict, path: Path) -> None:
    fig = Figure(figsize=(10, 3.4))
    axes = fig.subplots(1, 2)
    ax = axes[0]
    for name, color in (("mlp_muon_fullrank", "tab:blue"), ("mlp_muon_lowrank", "tab:orange")):
        if name not in summary:
            continue
        alpha = summary[name]["hidden_alpha_by_step"]
        steps = sorted(int(s) for s in alpha)
        ax.plot(steps, [alpha[str(s)] for s in steps], "o-", color=color, label=name)
    ax.axhline(0.5, color="grey", ls="--", lw=0.8, label="spectral view, full rank: 1/2")
    ax.axhline(1.0, color="grey", ls=":", lw=0.8, label="rank < width: 1")
    ax.set(xlabel="step", ylabel="measured α of hidden updates", title="Muon, MLP, one batch")
    ax.legend(fontsize=7)
    ax = axes[1]
    for name, color in (("mlp_muon_fresh100", "tab:blue"), ("mlp_lion_fresh100", "tab:green")):
        if name not in summary:
            continue
        alpha = summary[name]["hidden_alpha_by_step"]
        steps = sorted(int(s) for s in alpha)
        ax.plot(steps, [alpha[str(s)] for s in steps], "-", color=color, label=name)
    ax.axhline(0.5, color="grey", ls="--", lw=0.8)
    ax.axhline(1.0, color="grey", ls=":", lw=0.8)
    ax.set(xlabel="step", xscale="log", ylabel="measured α", title="fresh batch each step")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def _merge(out: Path, started: float, seeds: int, size: str, device: str) -> dict:
    """results.json and the alignment plot from every per-check file in ``out/checks/`` (checks
    run in parallel processes each write their own file)."""
    import json

    checks = {f.stem: json.loads(f.read_text()) for f in sorted((out / "checks").glob("*.json"))}
    save_json(
        out / "results.json",
        {"scheme": "mup", "seeds": seeds, "size": size, "device": device, "checks": checks},
        started=started,
        why=NULL_REASONS,
        indent=0,
        device=merged_device(checks),  # where the checks ran, not where they were merged
    )
    plot(checks, out / "muon_alignment.png")
    return checks


def main(argv: list[str] | None = None) -> int:
    from . import reproducible

    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=None, choices=list(ISSUE_CHECKS))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument(
        "--size", default="cpu", choices=list(SIZES), help="cpu (default) or the issue's widths"
    )
    parser.add_argument("--device", default="cpu", help="where to train (cpu, cuda)")
    parser.add_argument("--merge-only", action="store_true", help="rebuild results.json only")
    parser.add_argument("--out", default=None, help=f"default: experiments/results/{OUT}")
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else results_dir(OUT)
    reproducible()
    started = time.time()
    (out / "checks").mkdir(parents=True, exist_ok=True)
    sizes: dict[str, tuple] = SIZES[args.size]
    for name in [] if args.merge_only else args.only or sizes:
        if name not in sizes:
            raise ValueError(f"check {name!r} has no {args.size} size; accepted: {list(sizes)}")
        model, optimizer, widths, batch, steps, fixed, lr = sizes[name]
        t0 = time.perf_counter()
        res = run_coord_check(
            model=model,
            scheme="mup",
            optimizer=optimizer,
            widths=widths,
            steps=steps,
            seeds=args.seeds,
            batch=batch,
            fixed_batch=fixed,
            lr=lr,
            device=args.device,
            progress=False,
        )
        alpha = _alpha(res)
        check = {
            "model": model,
            "optimizer": optimizer,
            "widths": list(widths),
            "batch_rows": batch if model == "mlp" else (batch // 8) * 32,
            "steps": steps,
            "fixed_batch": fixed,
            "lr": lr,
            "device": args.device,
            "summary": res.summary(),
            "hidden_alpha_by_step": {str(s): sum(v) / len(v) for s, v in sorted(alpha.items())},
            "update_slopes_last_step": _update_slopes(res),
            "flags": res.flags,
            "fits": [f for f in res.judged if f["step"] in (1, steps) or f["step"] % 10 == 0],
            "wall_s": round(time.perf_counter() - t0, 1),
        }
        save_json(out / "checks" / f"{name}.json", check, started=started, why=NULL_REASONS)
        print(f"{name}: {res.summary()} alpha(last) {check['hidden_alpha_by_step']}")
        print(res.table(step=steps), flush=True)
    _merge(out, started, args.seeds, args.size, args.device)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
