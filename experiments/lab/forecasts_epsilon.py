"""Before it emerges: Adam's epsilon on the GPT (Wortsman et al. 2023, Sec. 3.4), forecast with
``abcparam epsilon`` (:func:`abcparam.engine.epsilon.crossovers`) and then seen in LR-vs-loss curves.

A constant eps stops being negligible at the width where the gradient RMS Adam normalises falls to
it; there the update shrinks (``g / (g + eps)``) and the loss at a fixed LR rises.  The forecast
uses width ``base`` only: the tool's power law ``n^-g`` from the gradient RMS measured there (i) at
initialisation (what ``abcparam epsilon`` measures by default) and (ii) during training (the
second half of the control runs at their best LR: the gradient falls as the loss does).  The
sweep trains every width at a large constant eps and at 1e-8 (the control) over an LR grid, 3
seeds, recording the gradient RMS per layer kind; the measured crossover is where the
training-time gradient RMS falls to eps (:func:`~abcparam.engine.epsilon.crossing`), and the
effect is the loss gap between the two eps at each LR and at the control's best LR.

Run: ``python experiments/forecasts_epsilon.py [--preset cpu|quick|gpu] [--analyse]``; results
in experiments/results/forecasts/<preset>/epsilon/.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from abcparam.records import load_json, save_json
from experiments.lab.paths import results_dir

#: the control: Adam's usual constant eps, negligible beside every gradient at these widths
CONTROL_EPS = 1e-8


@dataclass(frozen=True)
class Preset:
    """The sizes of one run of the experiment."""

    base_width: int
    widths: tuple[int, ...]
    log2_lrs: tuple[float, ...]
    steps: int
    eps: float  # the large constant eps whose crossover is forecast
    scheme: str = "mup"
    seeds: int = 3
    trace_every: int = 5
    batch: int = 128


PRESETS = {
    # base 32, eps 3e-4: the init-gradient forecast puts μP's hidden crossover several times
    # wider than the training-gradient one, so widths 32..128 tell the two apart (scaled to the
    # shared 2-core CPU; the gpu preset is the same at widths 256..2048 with eps 1e-5)
    "cpu": Preset(32, (32, 64, 128), tuple(float(x) for x in range(-8, -4)), 100, 3e-4),
    "quick": Preset(16, (16, 32), (-8.0, -6.0), 4, 3e-4, seeds=1, trace_every=2, batch=16),
    "gpu": Preset(256, (256, 512, 1024, 2048), tuple(x / 2 for x in range(-24, -7)), 1000, 1e-5),
}


def sweep_configs(preset: Preset, device: str) -> list:
    """The sweep: every width at the large eps and at the control, both constant (unscaled)."""
    from abcparam.transfer.sweep import grid

    configs = []
    for eps in (preset.eps, CONTROL_EPS):
        configs += grid(
            "transformer",
            [preset.scheme],
            "adam",
            preset.widths,
            preset.log2_lrs,
            preset.seeds,
            steps=preset.steps,
            base_width=preset.base_width,
            batch=preset.batch,
            device=device,
            trace_every=preset.trace_every,
            eps=eps,
            scale_eps=False,
        )
    return configs


def init_gradient_rms(preset: Preset, seeds: int) -> dict[str, float]:
    """RMS per layer kind of the raw gradient at initialisation on the sweep's own model at the
    base width (one training batch per seed, mean over seeds): what Adam first normalises."""
    import torch
    import torch.nn.functional as F

    from abcparam.torch.gradient_rms import lookup_tables, seen_entries
    from abcparam.transfer import data
    from abcparam.transfer.sweep import RunConfig, build_run

    train_ids, _, _ = data.pydoc_text()
    per: dict[str, list[float]] = {}
    for seed in range(seeds):
        cfg = RunConfig(
            "transformer", preset.scheme, "adam", preset.base_width, -8.0, seed,
            base_width=preset.base_width, batch=preset.batch,
        )  # fmt: skip
        model, spec, _ = build_run(cfg)
        g = torch.Generator().manual_seed(seed)
        x, y = data.lm_batch(train_ids, preset.batch // 8, 32, g)
        out = model(x)
        F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1)).backward()
        lookups = lookup_tables(model)
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        for p in spec.params:
            grad = spec.tensors[p.name].grad
            if grad is not None:
                seen = seen_entries(p.name, grad, lookups).double()
                sums[p.kind] = sums.get(p.kind, 0.0) + float(seen.pow(2).sum())
                counts[p.kind] = counts.get(p.kind, 0) + seen.numel()
        for kind in sums:
            per.setdefault(kind, []).append(math.sqrt(sums[kind] / counts[kind]))
    return {kind: float(np.mean(v)) for kind, v in per.items()}


def training_gradient_rms(rows: list[dict], kinds: list[str], late: float = 0.5) -> dict:
    """Per kind: the mean over seeds of each run's mean traced gradient RMS over the last
    ``late`` fraction of training."""
    out = {}
    for kind in kinds:
        values = []
        for row in rows:
            trace = row.get("trace") or {}
            series = [v for v in trace.get(f"grad_rms_{kind}", []) if math.isfinite(v)]
            if series:
                values.append(float(np.mean(series[int(len(series) * (1 - late)) :])))
        if values:
            out[kind] = float(np.mean(values))
    return out


def _curve(rows: list[dict]) -> dict[float, dict[int, float]]:
    """{log2 LR: {seed: final validation loss (inf if diverged)}}."""
    out: dict[float, dict[int, float]] = {}
    for r in rows:
        loss = r["val_loss"]
        ok = isinstance(loss, int | float) and math.isfinite(loss) and not r.get("diverged")
        out.setdefault(r["log2_lr"], {})[r["seed"]] = loss if ok else math.inf
    return dict(sorted(out.items()))


def _mean_se(values: list[float]) -> tuple[float, float | None]:
    v = np.array(values, dtype=float)
    if not np.all(np.isfinite(v)):
        return math.inf, None
    se = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else None
    return float(v.mean()), se


def _width_curve(control: list[dict], large: list[dict], kinds: list[str], eps: float):
    """(training gradient RMS, LR curves and the large-eps effect) at one width, from its control
    runs (at the control's best LR) and its large-eps runs."""
    from abcparam.engine.epsilon import step_fraction

    ctrl, big = _curve(control), _curve(large)
    best = min(ctrl, key=lambda lr: np.mean(list(ctrl[lr].values())))
    best_large = min(big, key=lambda lr: np.mean(list(big[lr].values())))
    g = training_gradient_rms([r for r in control if r["log2_lr"] == best], kinds)
    seeds = sorted(ctrl[best])
    gap_at_best = [big[best][s] - ctrl[best][s] for s in seeds]
    per_lr = {}
    for lr in ctrl:
        m_c, se_c = _mean_se(list(ctrl[lr].values()))
        m_l, se_l = _mean_se(list(big.get(lr, {}).values()))
        per_lr[str(lr)] = {
            "control": m_c,
            "control_se": se_c,
            "large_eps": m_l,
            "large_eps_se": se_l,
        }
    gm, gse = _mean_se(gap_at_best)
    return g, {
        "per_lr": per_lr,
        "control_best_log2_lr": best,
        "large_eps_best_log2_lr": best_large,
        "optimum_shift_log2": best_large - best,
        "gap_at_control_best": gm,
        "gap_at_control_best_se": gse,
        "gap_of_minima": _mean_se(list(big[best_large].values()))[0]
        - _mean_se(list(ctrl[best].values()))[0],
        "training_grad_rms": g,
        "hidden_step_fraction": step_fraction(g["hidden"], eps),
    }


def _forecast(preset, rules, kinds: list[str], control_base: list[dict]) -> dict:
    """The engine's crossovers from the base width only: from the init gradient RMS and from the
    training gradient RMS at the control's best LR, each with its ``abcparam epsilon`` command."""
    from abcparam.engine.epsilon import crossovers

    base = preset.base_width
    ctrl_base = _curve(control_base)
    best_base = min(ctrl_base, key=lambda lr: np.mean(list(ctrl_base[lr].values())))
    g_init = init_gradient_rms(preset, preset.seeds)
    g_train = training_gradient_rms([r for r in control_base if r["log2_lr"] == best_base], kinds)
    forecast = {}
    for name, grads in (("from_init_gradient", g_init), ("from_training_gradient", g_train)):
        used = {k: grads[k] for k in kinds if k in grads}
        forecast[name] = {
            "grad_rms_base": used,
            "crossovers": [c.to_dict() for c in crossovers(rules, preset.eps, base, used)],
            "command": (
                f"abcparam epsilon --scheme {preset.scheme} --base-width {base} --eps "
                f"{preset.eps:g} --grad-rms " + ",".join(f"{k}={v:.3g}" for k, v in used.items())
            ),
        }
    return forecast


def analyse(out: Path, preset_name: str) -> dict:
    """The forecast from the base width (the engine's crossovers from init and from training
    gradients), the measured crossover and the LR-curve effect at every width; writes
    ``out/summary.json``."""
    import abcparam
    from abcparam.engine.epsilon import crossing
    from abcparam.forecasts import load_runs
    from abcparam.transfer.sweep import rules_for

    preset = PRESETS[preset_name]
    rows = [r for r in load_runs(out) if r["log2_lr"] in preset.log2_lrs]
    rules = rules_for(preset.scheme, "adam")
    kinds = [k for k in ("embedding", "hidden", "readout") if rules[k].eps is not None]
    base = preset.base_width
    control = [r for r in rows if r["eps"] == CONTROL_EPS]
    large = [r for r in rows if r["eps"] == preset.eps]

    def at(rs: list[dict], width: int) -> list[dict]:
        return [r for r in rs if r["width"] == width]

    forecast = _forecast(preset, rules, kinds, at(control, base))
    # measured: training gradient RMS at each width (control runs at each width's best LR);
    # a width whose two curves are not complete (an interrupted sweep) is left out
    grid = set(preset.log2_lrs)

    def complete(rs: list[dict]) -> bool:
        curve = _curve(rs)
        return set(curve) == grid and all(len(v) == preset.seeds for v in curve.values())

    widths = [w for w in preset.widths if complete(at(control, w)) and complete(at(large, w))]
    measured_grad: dict[str, list[float]] = {k: [] for k in kinds}
    curves = {}
    for width in widths:
        g, curves[str(width)] = _width_curve(
            at(control, width), at(large, width), kinds, preset.eps
        )
        for k in kinds:
            measured_grad[k].append(g[k])
    measured = {
        k: {
            "grad_rms": measured_grad[k],
            "slope": float(np.polyfit(np.log(widths), np.log(measured_grad[k]), 1)[0])
            if len(widths) > 1
            else None,
            "predicted_slope": -float(rules[k].eps),
            "crossover_width": crossing(widths, measured_grad[k], preset.eps) if widths else None,
        }
        for k in kinds
    }
    summary = {
        "preset": preset.__dict__,
        "control_eps": CONTROL_EPS,
        "widths_complete": widths,
        "forecast": forecast,
        "measured": measured,
        "curves": curves,
        "engine_version": abcparam.__version__,
        "criterion": "crossover = the width where eps equals the RMS of the gradient Adam "
        "normalises (abcparam.engine.epsilon); effect = large-eps minus control validation "
        "loss at the control's best LR, paired by seed",
    }
    save_json(out / "summary.json", summary, command=f"forecasts_epsilon analyse {out}")
    return summary


def main(argv: list[str] | None = None) -> int:
    from abcparam.transfer.sweep import run_sweep

    from . import reproducible

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu", choices=tuple(PRESETS))
    parser.add_argument("--out", default=None, help="default: results/forecasts/<preset>/epsilon")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--analyse", action="store_true", help="only analyse the saved runs")
    args = parser.parse_args(argv)
    reproducible()
    out = Path(args.out) if args.out else results_dir("forecasts", args.preset, "epsilon")
    if not args.analyse:
        started = time.time()
        preset = PRESETS[args.preset]
        run_sweep(sweep_configs(preset, args.device), out / "runs.jsonl", workers=args.workers)
        previous = out / "config.json"
        runs = load_json(previous).get("runs", []) if previous.exists() else []
        config = {
            "preset": args.preset,
            "sizes": preset.__dict__,
            "control_eps": CONTROL_EPS,
            "device": args.device,
            "data": "pydoc_data.topics, character level, context 32 (abcparam.transfer.data)",
            "model": "abcparam GPT, 2 blocks, 4 heads, Adam with one constant eps (unscaled)",
            "runs": [*runs, {"started": started}],
        }
        save_json(previous, config, started=started)
    analyse(out, args.preset)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
