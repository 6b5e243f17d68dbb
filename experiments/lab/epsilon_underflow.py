"""Adam's epsilon at width: predicted vs measured crossover, and both cures (issue: Adam epsilon).

For muP + Adam on the built-in MLP (or GPT) at widths 64..4096: (1) the raw-gradient RMS per
layer at init, whose slope must be -g (the rules' eps exponent); (2) the RMS of the first Adam
update of each layer's effective weight with a *constant* eps, with the engine's *scaled* eps
(eps * (n/n0)^-g), and with Adam-atan2.  eps is chosen large (the hidden crossover predicted at
width 512 from the base-width gradient) so the underflow happens inside CPU-reachable widths;
with eps = 1e-8 the same physics happens at ~1e8 (see ``abcparam epsilon``).
Crossover, predicted and measured by one criterion (abcparam.engine.epsilon): the width where eps
equals the gradient RMS, on the engine's power law from the base width (predicted) and on the
gradient RMS measured at every width (measured, log-log interpolated).  The update ratio
constant / scaled eps is compared with the same step's formula from the measured gradient.
Run: ``python experiments/epsilon_underflow.py [--quick]``; ``--rejudge`` recomputes the derived
numbers of a saved result from its measurements.
"""

from __future__ import annotations

import argparse
import math
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from tqdm.std import tqdm  # tqdm.auto warns on book pages (no notebook widgets)

import abcparam
from abcparam.engine.epsilon import crossing, crossover_width, step_fraction
from abcparam.records import save_json
from abcparam.torch import build_optimizer, parametrize
from abcparam.torch.gradient_rms import build, gradient_rms, lookup_tables, probe_batch
from experiments.lab.paths import results_dir

from . import reproducible

KINDS = ("embedding", "hidden", "readout")


def first_update_rms(model_name, rules, width, base, seed, variant, eps, lr, device, dtype):
    """RMS per kind of the effective weight change after one step, and the gradient RMS."""
    torch.manual_seed(seed)
    model = build(model_name, width)
    spec = parametrize(model, rules, base_width=base, seed=seed)
    model.to(device=device, dtype=dtype)
    x, y = (t.to(device) for t in probe_batch(model_name, seed))
    if x.is_floating_point():
        x = x.to(dtype)
    grads = gradient_rms(model, spec, x, y)
    before = {p.name: spec.tensors[p.name].detach().clone() for p in spec.params}
    opt = build_optimizer(
        model,
        spec,
        optimizer="adam-atan2" if variant == "atan2" else "adam",
        lr=lr,
        eps=eps,
        scale_eps=(variant == "scaled"),
    )
    opt.step()
    lookups = lookup_tables(model)
    sums, counts = {}, {}
    for p in spec.params:
        d = ((spec.tensors[p.name].detach() - before[p.name]) * p.multiplier).double()
        grad = spec.tensors[p.name].grad
        if p.name in lookups and grad is not None:  # the rows present in the batch
            d = d[grad.ne(0).any(dim=1)]
        sums[p.kind] = sums.get(p.kind, 0.0) + d.pow(2).sum().item()
        counts[p.kind] = counts.get(p.kind, 0) + d.numel()
    return {k: math.sqrt(sums[k] / counts[k]) for k in KINDS}, grads


def slope(widths, values):
    fit = stats.linregress(np.log(widths), np.log(values))
    return fit.slope, fit.stderr


CRITERION = (
    "crossover = the width where eps equals the RMS of the gradient Adam normalises; predicted "
    "on the engine's power law from the base width, measured on the gradient RMS at each width "
    "(log-log interpolated); there Adam's first step keeps half its eps-free size"
)


def judged_layer(row: dict, widths, eps: float, base: float) -> dict:
    """The derived numbers of one layer kind from its measurements (``grad_rms`` and
    ``update_rms`` per width), all by the one crossover criterion."""
    g = float(Fraction(row["predicted_gradient_exponent"]))
    grads, upd = row["grad_rms"], row["update_rms"]
    gs, ge = slope(widths, grads)
    predicted_ratio = [
        step_fraction(gn, eps) / step_fraction(gn, eps * (w / base) ** -g)
        for gn, w in zip(grads, widths)
    ]
    return {
        **row,
        "measured_gradient_slope": gs,
        "gradient_slope_stderr": ge,
        "grad_rms_base": grads[0],
        "predicted_crossover_width": crossover_width(g, grads[0], eps, widths[0]),
        "measured_crossover_width": crossing(widths, grads, eps),
        "update_slope_scaled": slope(widths, upd["scaled"])[0],
        "update_slope_atan2": slope(widths, upd["atan2"])[0],
        "update_slope_constant": slope(widths, upd["constant"])[0],
        "update_ratio_measured": [c / s for c, s in zip(upd["constant"], upd["scaled"])],
        "update_ratio_predicted": predicted_ratio,
    }


def run(
    model_name="mlp",
    widths=(64, 128, 256, 512, 1024, 2048, 4096),
    seeds=2,
    base=64,
    lr=1e-2,
    crossover_target=512,
    device="cpu",
    dtype="float32",
    progress=True,
) -> dict:
    rules = abcparam.rules("mup", optimizer="adam")
    torch_dtype = getattr(torch, dtype)
    # choose eps so the hidden crossover is predicted at `crossover_target`
    _, g_base = first_update_rms(
        model_name, rules, base, base, 0, "scaled", 1e-30, lr, device, torch_dtype
    )
    g_hidden = float(rules["hidden"].eps)
    eps = g_base["hidden"] * (crossover_target / base) ** (-g_hidden)
    data = {v: {k: [] for k in KINDS} for v in ("constant", "scaled", "atan2")}
    grads = {k: [] for k in KINDS}
    for width in tqdm(widths, desc="epsilon", disable=not progress):
        per_seed = {v: {k: [] for k in KINDS} for v in data}
        gs = {k: [] for k in KINDS}
        for seed in range(seeds):
            for variant in data:
                upd, g = first_update_rms(
                    model_name, rules, width, base, seed, variant, eps, lr, device, torch_dtype
                )
                for k in KINDS:
                    per_seed[variant][k].append(upd[k])
                    if variant == "constant":
                        gs[k].append(g[k])
        for v in data:
            for k in KINDS:
                data[v][k].append(float(np.exp(np.mean(np.log(per_seed[v][k])))))
        for k in KINDS:
            grads[k].append(float(np.exp(np.mean(np.log(gs[k])))))
    layers = {
        k: judged_layer(
            {
                "predicted_gradient_exponent": str(rules[k].eps),
                "predicted_update_slope": -float(rules[k].a + rules[k].c),
                "update_rms": {v: data[v][k] for v in data},
                "grad_rms": grads[k],
            },
            list(widths),
            eps,
            widths[0],
        )
        for k in KINDS
    }
    return {
        "config": {
            "model": model_name,
            "scheme": "mup",
            "optimizer": "adam",
            "widths": list(widths),
            "seeds": seeds,
            "base_width": base,
            "lr": lr,
            "eps": eps,
            "crossover_target_hidden": crossover_target,
            "crossover_criterion": CRITERION,
            "device": device,
            "dtype": dtype,
        },
        "layers": layers,
    }


def plot(result: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    widths = result["config"]["widths"]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for ax, (kind, row) in zip(axes, result["layers"].items()):
        for v, style in (("constant", "o-"), ("scaled", "s--"), ("atan2", "^:")):
            ax.plot(
                widths,
                row["update_rms"][v],
                style,
                ms=4,
                label=f"{v} eps" if v != "atan2" else "Adam-atan2",
            )
        pc = row["predicted_crossover_width"]
        if pc and math.isfinite(pc) and widths[0] <= pc <= widths[-1] * 4:
            ax.axvline(pc, color="k", lw=0.8, ls="-.", label=f"predicted crossover {pc:.0f}")
        ax.set(
            xscale="log",
            yscale="log",
            title=f"{kind} (g = {row['predicted_gradient_exponent']})",
            xlabel="width",
        )
        ax.legend(fontsize=6)
    axes[0].set_ylabel("RMS of first update")
    fig.suptitle(
        f"μP + Adam, eps = {result['config']['eps']:.2e}: constant eps underflows", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def rejudge(path: Path) -> int:
    """Rewrite a saved result's derived numbers by the current criterion (no training)."""
    from abcparam.records import load_json

    saved = load_json(path)
    provenance = saved.pop("provenance", {})
    saved.pop("nulls", None)
    config = saved["config"]
    config["crossover_criterion"] = CRITERION
    for kind, row in saved["layers"].items():
        saved["layers"][kind] = judged_layer(
            row, config["widths"], config["eps"], config["base_width"]
        )
    started = time.time()
    command = (
        f"python experiments/epsilon_underflow.py --model {config['model']} --rejudge "
        f"(measurements from: {provenance.get('command')}, commit "
        f"{str(provenance.get('git_commit'))[:12]})"
    )
    save_json(path, saved, command=command, started=started)
    for kind, row in saved["layers"].items():
        print(
            f"{kind}: crossover predicted {row['predicted_crossover_width']:.3g}, measured "
            f"{row['measured_crossover_width']}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mlp", choices=("mlp", "transformer"))
    parser.add_argument("--quick", action="store_true", help="widths 64..512")
    parser.add_argument("--widths", default=None, help="comma-separated widths (overrides --quick)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument(
        "--out",
        default=None,
        help="results folder (default: experiments/results/epsilon_cpu/MODEL)",
    )
    parser.add_argument(
        "--rejudge",
        action="store_true",
        help="recompute the derived numbers of the saved results.json from its measurements",
    )
    args = parser.parse_args(argv)
    reproducible()
    if args.rejudge:
        out = Path(args.out) if args.out else results_dir("epsilon_cpu", args.model)
        return rejudge(out / "results.json")
    widths: tuple[int, ...] = (
        (64, 128, 256, 512) if args.quick else (64, 128, 256, 512, 1024, 2048, 4096)
    )
    if args.widths:
        widths = tuple(int(w) for w in args.widths.split(","))
    started = time.time()
    result = run(args.model, widths=widths, device=args.device, dtype=args.dtype)
    out = Path(args.out) if args.out else results_dir("epsilon_cpu", args.model)
    save_json(out / "results.json", result, started=started)
    plot(result, out / "update_rms.png")
    for kind, row in result["layers"].items():
        print(
            f"{kind:9s} grad slope {row['measured_gradient_slope']:+.2f} ± "
            f"{row['gradient_slope_stderr']:.2f} (predicted -{row['predicted_gradient_exponent']}); "
            f"crossover predicted {row['predicted_crossover_width']:.3g}, measured "
            f"{row['measured_crossover_width']}; update slopes: scaled "
            f"{row['update_slope_scaled']:+.2f}, atan2 {row['update_slope_atan2']:+.2f}, "
            f"constant {row['update_slope_constant']:+.2f} (predicted {row['predicted_update_slope']:+.2f})"
        )
    print(f"wall {time.time() - started:.0f} s")
    return 0
