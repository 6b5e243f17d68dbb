"""Why a tied readout's output at init does not fall like n^-1/2 (issue "Your model, not ours").

With the input embedding tied to the readout, the readout's input is not independent of its
weight: the residual stream at position t still holds the embedding row W[x_t] of its own token,
so the logit of that token, ``m_R sum_i W[x_t, i] h_i``, is a fully aligned sum (alpha = 1 at init)
and scales like ``n^(1 - (a_R + b_R))`` -- n^0 under muP -- while every other logit is a CLT sum,
``n^(1/2 - (a_R + b_R))``.  (a_R + b_R is unchanged by the abc-symmetry that moves the shared
tensor to the embedding's b.)  With a fixed vocabulary V the RMS over all logits mixes the two,
``sqrt(other^2 (V-1)/V + own^2 / V)``, so its slope creeps from -1/2 towards 0 as n passes V.

Measured here at init (no training) on the Hugging Face GPT-2 and Llama from config, tied and
untied (the control), widths 128-1024, 3 seeds, on the pydoc-text token batch.
Run: ``python experiments/tied_readout.py [--quick]``; results in experiments/results/tied_readout/.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from abcparam.engine.alignment import HALF

OUT = "tied_readout"
MODELS = ("hf:gpt2", "hf:llama-tied", "hf:gpt2-untied", "hf:llama")


def logit_parts(model_name: str, width: int, base_width: int, seed: int, rules) -> dict[str, float]:
    """RMS at init of the own-token logits, of the other logits and of all logits."""
    import torch

    from abcparam.coordcheck.batches import tokens
    from abcparam.coordcheck.record import rms
    from abcparam.torch import parametrize
    from abcparam.torch.zoo import MODELS as ZOO

    factory = ZOO[model_name][0]
    torch.manual_seed(seed)
    model = factory(width)
    with torch.device("meta"):
        base, delta = factory(base_width), factory(2 * base_width)
    parametrize(model, rules, base=base, delta=delta if width == base_width else None, seed=seed)
    x, _ = tokens(seed)
    with torch.no_grad():
        logits = model(x).logits.double()
    own_mask = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, x.unsqueeze(-1), True)
    return {
        "own": rms(logits[own_mask]),
        "other": rms(logits[~own_mask]),
        "all": rms(logits),
        "vocab": logits.shape[-1],
    }


def slope(widths: Sequence[int], values: Sequence[float]) -> float:
    """Least-squares log-log slope."""
    return float(np.polyfit(np.log(widths), np.log(values), 1)[0])


def run(widths: Sequence[int], seeds: int, models: Sequence[str] = MODELS) -> dict:
    import abcparam

    rules = abcparam.rules("mup", optimizer="adam")
    readout_ab = rules["readout"].a + rules["readout"].b
    predicted = {"own": 1 - readout_ab, "other": HALF - readout_ab}
    out: dict = {
        "scheme": "mup",
        "widths": list(widths),
        "seeds": seeds,
        "predicted_slopes": {
            "own (tied)": str(predicted["own"]),
            "other, and own when untied": str(predicted["other"]),
        },
        "models": {},
    }
    for name in models:
        per_width = {
            w: [logit_parts(name, w, min(widths), s, rules) for s in range(seeds)] for w in widths
        }
        mean = {
            part: [float(np.mean([r[part] for r in per_width[w]])) for w in widths]
            for part in ("own", "other", "all")
        }
        fits = {}
        for part, values in mean.items():
            per_seed = [
                slope(widths, [per_width[w][s][part] for w in widths]) for s in range(seeds)
            ]
            fits[part] = {
                "slope": slope(widths, values),
                "stderr": float(np.std(per_seed, ddof=1) / np.sqrt(seeds)) if seeds > 1 else None,
            }
        vocab = per_width[widths[0]][0]["vocab"]
        mix = [
            np.sqrt(o**2 * (vocab - 1) / vocab + t**2 / vocab)
            for o, t in zip(mean["other"], mean["own"])
        ]
        out["models"][name] = {
            "tied": name in ("hf:gpt2", "hf:llama-tied"),
            "vocab": vocab,
            "rms": mean,
            "slopes": fits,
            "all_from_parts_slope": slope(widths, mix),
        }
    return out


def plot(result: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.2))
    axes = fig.subplots(1, len(result["models"]), sharey=True)
    widths = result["widths"]
    for ax, (name, m) in zip(np.atleast_1d(axes), result["models"].items()):
        for part, style in (("own", "o-"), ("other", "s--"), ("all", "^:")):
            ax.loglog(
                widths, m["rms"][part], style, label=f"{part}: {m['slopes'][part]['slope']:+.2f}"
            )
        ax.set(title=f"{name}{' (tied)' if m['tied'] else ''}", xlabel="width")
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel("logit RMS at init (muP)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv: Sequence[str] | None = None) -> int:
    from abcparam.records import save_json
    from experiments.lab.paths import results_dir

    from . import reproducible

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="widths 64-256, one seed (a test)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default=None, help=f"default: experiments/results/{OUT}")
    args = parser.parse_args(argv)
    reproducible()
    started = time.time()
    out = Path(args.out) if args.out else results_dir(OUT)
    widths, seeds = ((64, 128, 256), 1) if args.quick else ((128, 256, 512, 1024), args.seeds)
    result = run(widths, seeds)
    out.mkdir(parents=True, exist_ok=True)
    path = save_json(out / "results.json", result, started=started)
    plot(result, out / "logits_at_init.png")
    for name, m in result["models"].items():
        s = m["slopes"]
        print(
            f"{name:16s} tied={m['tied']!s:5s} own {s['own']['slope']:+.2f} other "
            f"{s['other']['slope']:+.2f} all {s['all']['slope']:+.2f} (from parts "
            f"{m['all_from_parts_slope']:+.2f})"
        )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
