"""Sweeps that resolve what they claim (issue 28): adaptive LR grids refined to 0.25 log2 around
every optimum, >= 3 seeds, every run batched (:mod:`abcparam.transfer.batched`), and per sweep
the optimum per size, the drift per doubling and the transfer regret, each with a 95 % bootstrap
interval over seeds (:mod:`abcparam.transfer.regret`).

Sweeps (CPU scale; ``--steps`` / ``--sizes`` for larger runs):

- ``width-mlp``: μP and SP with one width-independent LR, Adam, MLP on digits, widths 64-512.
- ``width-gpt``: the same on the character-level GPT (pydoc text), widths 64-256.
- ``depth-gpt``: μP, Depth-μP, CompleteP on the GPT at width 32, depths 2-16, 40 Adam steps.
- ``muon-lion-mlp`` / ``muon-lion-gpt``: μP with Adam, Muon (Keller's scaling under the spectral
  and the entry view's table), Moonshot's Muon and Lion (the arms of
  :mod:`experiments.lab.muon_lion_transfer`); ``muon-lion-gpt-cpu``: the GPT's at widths
  16-64 and 30 steps, with 4-octave coarse grids (what a loaded 2-core CPU affords).

Run: ``python experiments/regret_sweeps.py SWEEP [--quick]``; results in
experiments/results/regret_<sweep>/ (runs.jsonl: every run with its loss curve; summary.json:
config, analysis, provenance; summary.md; loss_vs_lr.png).  Resumable.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

from abcparam.records import save_json
from abcparam.transfer.sweep import RunConfig, finished
from experiments.lab.paths import results_dir


@dataclass(frozen=True)
class Sweep:
    """One rerun: model, what varies, sizes, steps, and arms ``label -> (scheme, optimizer,
    update view, coarse log2 LR grid)``."""

    model: str
    vary: str
    sizes: tuple[int, ...]
    steps: int
    arms: dict[str, tuple[str, str, str, tuple[float, ...]]] = field(default_factory=dict)
    width: int = 64  # the width of a depth sweep
    base_width: int = 64


def _grid(lo: int, hi: int) -> tuple[float, ...]:
    return tuple(float(x) for x in range(lo, hi + 1))


def _adam_arms(grids: dict[str, tuple[int, int]]) -> dict:
    """Adam arms under the spectral view: scheme -> (lo, hi) of its coarse log2 LR grid."""
    return {s: (s, "adam", "spectral", _grid(lo, hi)) for s, (lo, hi) in grids.items()}


def _mup_vs_sp(model: str, sizes: tuple[int, ...], steps: int, lo: int, hi: int) -> Sweep:
    """μP against SP with one width-independent LR (its grid one octave lower), over width."""
    arms = _adam_arms({"mup": (lo, hi), "sp-constant-lr": (lo - 1, hi - 1)})
    return Sweep(model, "width", sizes, steps, arms)


def _muon_lion_arms(model: str) -> dict:
    from .muon_lion_transfer import ARMS

    arms = {k: ("mup", o, v, _grid(min(g), max(g))) for k, (o, v, g) in ARMS.items()}
    if model == "transformer":  # the GPT's 40-step optima sat at the top of the MLP's grids
        arms = {k: (s, o, v, tuple(x + 1 for x in g)) for k, (s, o, v, g) in arms.items()}
    return arms


SWEEPS = {
    "width-mlp": _mup_vs_sp("mlp", (64, 128, 256, 512), 100, -11, -4),
    "width-gpt": _mup_vs_sp("transformer", (64, 128, 256), 50, -9, -4),
    "depth-gpt": Sweep(
        "transformer",
        "depth",
        (2, 4, 8, 16),
        40,
        _adam_arms({s: (-9, -4) for s in ("mup", "depth-mup", "completep")}),
        width=32,
        base_width=32,
    ),
    "muon-lion-mlp": Sweep("mlp", "width", (64, 128, 256), 100, _muon_lion_arms("mlp")),
    "muon-lion-gpt": Sweep(
        "transformer", "width", (64, 128, 256), 40, _muon_lion_arms("transformer")
    ),
    # CPU scale (issue 28's rerun on a loaded 2-core machine): widths 16-64, 30 steps, each arm's
    # coarse grid cut to 4 octaves around where the 30-step optima sit (extended past an edge)
    "muon-lion-gpt-cpu": Sweep(
        "transformer",
        "width",
        (16, 32, 64),
        30,
        {
            k: (s, o, v, _grid(lo, lo + 3))
            for (k, (s, o, v, _)), lo in zip(
                _muon_lion_arms("transformer").items(), (-8, -7, -7, -7, -10)
            )
        },
    ),
}
QUICK = {"sizes": 2, "steps": 3, "seeds": 3, "rounds": 1}


def _maker(sweep: Sweep, steps: int, depth_base: int):
    def make(arm: str, size: int, lr: float, seed: int) -> RunConfig:
        scheme, optimizer, view, _ = sweep.arms[arm]
        if sweep.vary == "depth":
            return RunConfig(
                sweep.model, scheme, optimizer, sweep.width, lr, seed, steps=steps,
                base_width=sweep.base_width, depth=size, base_depth=depth_base,
                update_view=view,
            )  # fmt: skip
        return RunConfig(
            sweep.model, scheme, optimizer, size, lr, seed, steps=steps,
            base_width=sweep.base_width, update_view=view,
        )  # fmt: skip

    return make


def _saved_runs(
    name: str, out: Path, arms: list[str], sizes: tuple[int, ...], steps: int, seeds: int
) -> list[dict]:
    """Every saved run of this sweep's arms, sizes, steps and seeds (an interrupted last round
    too), its scheme replaced by its arm's label."""
    sweep = SWEEPS[name]
    label = {(s, o, v): a for a, (s, o, v, _) in sweep.arms.items() if a in arms}
    rows = [
        r
        for r in finished(out / "runs.jsonl").values()
        if (r["scheme"], r["optimizer"], r["update_view"]) in label
        and r["steps"] == steps
        and r["seed"] < seeds
        and r[sweep.vary] in sizes
        and r["model"] == sweep.model
        and (sweep.vary == "width" or r["width"] == sweep.width)
    ]
    if not rows:
        raise ValueError(f"no saved run of sweep {name!r} in {out / 'runs.jsonl'}")
    return [{**r, "scheme": label[(r["scheme"], r["optimizer"], r["update_view"])]} for r in rows]


def _config(
    sweep: Sweep, arms: list[str], sizes: tuple[int, ...], steps: int, seeds: int, rounds: int
) -> dict:
    """The sweep's configuration as summary.json records it."""
    return {
        "model": sweep.model,
        "vary": sweep.vary,
        "sizes": list(sizes),
        "steps": steps,
        "seeds": seeds,
        "rounds": rounds,
        "width": sweep.width if sweep.vary == "depth" else None,
        "base_width": sweep.base_width,
        "arms": {a: list(sweep.arms[a][:3]) + [list(sweep.arms[a][3])] for a in arms},
        "trainer": "abcparam.transfer.batched (losses equal separate runs to 1e-5)",
        "estimator": "parabola over the seed-mean loss within 1 log2 of its argmin",
        "interval": "95 % percentile bootstrap over seeds, 2000 replicates",
    }


def run(
    name: str,
    out: Path,
    seeds: int = 3,
    steps: int | None = None,
    sizes: tuple[int, ...] | None = None,
    arms: list[str] | None = None,
    rounds: int = 4,
    max_models: int = 48,
    analyse_only: bool = False,
) -> dict:
    """Run (or resume) one sweep into ``out`` and save its analysis of every saved run of the
    sweep (``analyse_only``: no training); returns the analysis."""
    from abcparam.transfer.adaptive import adaptive_sweep
    from abcparam.transfer.plot import plot_sweep
    from abcparam.transfer.regret import analyse, table

    if name not in SWEEPS:
        raise ValueError(f"unknown sweep {name!r}; accepted: {', '.join(SWEEPS)}")
    sweep = SWEEPS[name]
    sizes = tuple(sizes or sweep.sizes)
    steps = steps or sweep.steps
    arms = list(arms or sweep.arms)
    unknown = set(arms) - set(sweep.arms)
    if unknown:
        raise ValueError(f"unknown arms {sorted(unknown)}; accepted: {', '.join(sweep.arms)}")
    started = time.time()
    make = _maker(sweep, steps, min(sizes))
    if not analyse_only:
        adaptive_sweep(
            make,
            arms,
            sizes,
            {a: list(sweep.arms[a][3]) for a in arms},
            seeds,
            out / "runs.jsonl",
            rounds=rounds,
            max_models=max_models,
        )
    tagged = _saved_runs(name, out, arms, sizes, steps, seeds)
    result = analyse(tagged, vary=sweep.vary)
    text = table(result)
    (out / "summary.md").write_text(text + "\n")
    plot_sweep(tagged, out / "loss_vs_lr.png", f"{name}: {steps} steps", vary=sweep.vary)
    save_json(
        out / "summary.json",
        {
            "sweep": name,
            "config": {
                **_config(sweep, arms, sizes, steps, seeds, rounds),
                "runs": len(tagged),
                "analysed_only": analyse_only,
            },
            "analysis": result,
            "table": text,
        },
        started=started,
    )
    print(f"{name}\n{text}", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", choices=sorted(SWEEPS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--sizes", default=None, help="comma-separated widths (or depths)")
    parser.add_argument("--arms", default=None, help="arm labels separated by ';'")
    parser.add_argument("--rounds", type=int, default=4, help="refinement rounds after the grid")
    parser.add_argument("--max-models", type=int, default=48, help="runs per batched model")
    parser.add_argument("--quick", action="store_true", help="2 sizes, 3 steps, 1 round")
    parser.add_argument(
        "--analyse-only", action="store_true", help="no training: analyse the saved runs"
    )
    parser.add_argument("--out", default=None, help="default: experiments/results/regret_<sweep>")
    args = parser.parse_args(argv)
    sweep = SWEEPS[args.sweep]
    sizes = tuple(int(x) for x in args.sizes.split(",")) if args.sizes else None
    if args.quick:
        sizes, args.steps, args.rounds = sweep.sizes[: QUICK["sizes"]], QUICK["steps"], 1
    out = Path(args.out) if args.out else results_dir(f"regret_{args.sweep.replace('-', '_')}")
    run(
        args.sweep,
        out,
        seeds=args.seeds,
        steps=args.steps,
        sizes=sizes,
        arms=[a.strip() for a in args.arms.split(";")] if args.arms else None,
        rounds=args.rounds,
        max_models=args.max_models,
        analyse_only=args.analyse_only,
    )
    return 0


__all__ = ["SWEEPS", "Sweep", "main", "run"]
