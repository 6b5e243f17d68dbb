"""Predicted vs measured FP8 out-of-range fractions per scheme, width and tensor role.

For each scheme (SP, μP, u-μP, μnit Scaling) and model (MLP on sklearn digits, character-level
GPT on CPython's pydoc text), every matrix layer is watched during one training step at init and
one after a few Adam steps (:func:`abcparam.torch.precision.record_step`).  The prediction uses
only the base width: the RMS measured there times ``(n / n0)^e`` with e from the engine
(:func:`abcparam.engine.precision.role_exponents`), turned into fractions by the Gaussian formula
(:mod:`abcparam.engine.formats`).  A second prediction plugs the RMS measured at each width into
the same formula, to separate an error in the exponent from an error in the Gaussian shape.
A third ("base shape") keeps the Gaussian out: it scales the base width's measured histogram of
log2|x| by the predicted factor and reads the fraction beyond the format's thresholds.
Forward roles are judged in e4m3, gradient roles in e5m2.

Run: ``python experiments/precision_ranges.py [--quick]`` (results in
experiments/results/precision/).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

SCHEMES = ("sp", "mup", "u-mup", "munit")
FORMATS = ("e4m3", "e5m2")
FORWARD_FORMAT, GRADIENT_FORMAT = "e4m3", "e5m2"
OUT = Path("experiments") / "results" / "precision"


def judged_format(role: str) -> str:
    """e5m2 for gradients, e4m3 for everything else."""
    from abcparam.engine.precision import GRADIENT_ROLES

    return GRADIENT_FORMAT if role in GRADIENT_ROLES else FORWARD_FORMAT


def _model_kwargs(model_name: str, vocab: int) -> dict:
    if model_name == "mlp":
        return {"depth": 2, "in_dim": 64, "out_dim": 10}
    return {"n_layers": 2, "n_heads": 4, "vocab": vocab, "context": 32}


def measure(
    model_name: str,
    scheme: str,
    width: int,
    base_width: int,
    seed: int,
    steps: int,
    lr: float,
    batch: int,
) -> dict:
    """Stats per layer and role at init (the first step) and at step ``steps``."""
    import torch
    import torch.nn.functional as F

    import abcparam
    from abcparam.torch.apply import build_optimizer
    from abcparam.torch.precision import build, matrix_layers, record_step
    from abcparam.transfer import data

    torch.set_num_threads(1)
    rules = abcparam.rules(scheme, "adam")
    g = torch.Generator().manual_seed(seed)
    if model_name == "mlp":
        split = data.digits(seed)
        vocab = 0
    else:
        train_ids, _, vocab_list = data.pydoc_text()
        vocab = len(vocab_list)
    model, spec = build(
        model_name, width, rules, base_width, seed, **_model_kwargs(model_name, vocab)
    )
    opt = build_optimizer(model, spec, lr=lr)

    def loss_fn():
        if model_name == "mlp":
            idx = torch.randint(0, len(split.x_train), (batch,), generator=g)
            x, y = split.x_train[idx], split.y_train[idx]
        else:
            x, y = data.lm_batch(train_ids, batch, 32, g)
        out = model(x)
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))

    hist = width == base_width  # the base width's shape feeds the shape-aware prediction
    init, loss0 = record_step(model, opt, loss_fn, FORMATS, hist)
    for _ in range(steps - 1):
        opt.zero_grad(set_to_none=True)
        loss_fn().backward()
        opt.step()
    trained, loss1 = record_step(model, opt, loss_fn, FORMATS, hist)
    kinds = {name: m.abc_kind for name, m in matrix_layers(model)}
    return {
        "kinds": kinds,
        "init": init,
        "trained": trained,
        "loss_init": loss0,
        "loss_trained": loss1,
    }


def predictions(runs: list[dict], base_width: int) -> list[dict]:
    """One row per (model, scheme, seed, phase, layer, role, width): measured and predicted."""
    import abcparam
    from abcparam.engine.formats import get_format, overflow_fraction, underflow_fraction
    from abcparam.engine.precision import role_exponents
    from abcparam.torch.precision import histogram_fraction

    rows = []
    by_key: dict[tuple, dict[int, dict]] = {}
    for run in runs:
        by_key.setdefault((run["model"], run["scheme"], run["seed"]), {})[run["width"]] = run
    for (model, scheme, seed), widths in by_key.items():
        if base_width not in widths:
            raise ValueError(f"{model}/{scheme}/seed {seed}: no run at the base width {base_width}")
        base = widths[base_width]
        rules = abcparam.rules(scheme, "adam")
        for phase in ("init", "trained"):
            tables = {
                att: role_exponents(rules, trained=(phase == "trained"), attention=att)
                for att in (None, "qk")
            }
            for layer, kind in base["kinds"].items():
                table = tables["qk" if layer.endswith((".attn.q", ".attn.k")) else None]
                for role, s0 in base[phase][layer].items():
                    if (kind, role) not in table:
                        continue
                    e = float(table[(kind, role)].exponent)
                    f = judged_format(role)
                    for width, run in sorted(widths.items()):
                        s = run[phase][layer].get(role)
                        if s is None:
                            continue
                        scale = (width / base_width) ** e
                        rms_pred = s0["rms_nonzero"] * scale
                        fm = get_format(f)
                        rows.append(
                            {
                                "model": model,
                                "scheme": scheme,
                                "seed": seed,
                                "phase": phase,
                                "layer": layer,
                                "kind": kind,
                                "role": role,
                                "width": width,
                                "exponent": str(table[(kind, role)].exponent),
                                "format": f,
                                "rms_measured": s["rms_nonzero"],
                                "rms_predicted": rms_pred,
                                "underflow_measured": s[f]["underflow"],
                                "underflow_predicted": underflow_fraction(rms_pred, f),
                                "underflow_gaussian_at_measured_rms": underflow_fraction(
                                    s["rms_nonzero"], f
                                ),
                                "underflow_predicted_base_shape": histogram_fraction(
                                    s0["log2_hist"], fm.zero_threshold / scale
                                ),
                                "overflow_measured": s[f]["overflow"],
                                "overflow_predicted": overflow_fraction(rms_pred, f),
                                "overflow_predicted_base_shape": histogram_fraction(
                                    s0["log2_hist"], fm.max / scale, below=False
                                ),
                            }
                        )
    return rows


def worst(rows: list[dict], which: str = "underflow") -> dict | None:
    """The row with the largest |measured - predicted| fraction (percentage points)."""
    scored = [
        r
        for r in rows
        if r[f"{which}_measured"] is not None and r[f"{which}_predicted"] is not None
    ]
    if not scored:
        return None
    return max(scored, key=lambda r: abs(r[f"{which}_measured"] - r[f"{which}_predicted"]))


def summary_table(rows: list[dict], roles=None) -> str:
    """Markdown: per model, scheme, phase and role (pooled over layers of a kind), measured /
    predicted underflow in percent at each width."""
    roles = roles or ("weight", "input", "output", "grad_output", "grad_input", "grad_weight")
    cells: dict[tuple, dict[int, list]] = {}
    widths = sorted({r["width"] for r in rows})
    for r in rows:
        if r["role"] not in roles or r["underflow_measured"] is None:
            continue
        key = (r["model"], r["scheme"], r["phase"], r["kind"], r["role"], r["format"])
        cells.setdefault(key, {}).setdefault(r["width"], []).append(
            (r["underflow_measured"], r["underflow_predicted"])
        )
    head = "| model | scheme | phase | kind | role | fmt | " + " | ".join(f"n={w}" for w in widths)
    lines = [head + " |", "|" + "---|" * (6 + len(widths))]
    for key, per_width in sorted(cells.items()):
        vals = []
        for w in widths:
            pairs = per_width.get(w)
            if not pairs:
                vals.append("")
                continue
            m = 100 * sum(p[0] for p in pairs) / len(pairs)
            p = 100 * sum(p[1] for p in pairs) / len(pairs)
            vals.append(f"{m:.2g} / {p:.2g}")
        lines.append("| " + " | ".join(key) + " | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def _save_ranges(
    out: Path, config: dict, runs: list[dict], rows: list[dict], started: float
) -> None:
    """One model's ranges saved (JSON with provenance, a markdown table); its worst rows printed."""
    from abcparam.records import save_json

    model_name = config["model"]
    worst_rows = {
        which: worst([r for r in rows if r["role"] != "adam_v"], which)
        for which in ("underflow", "overflow")
    }
    payload = {
        "config": config,
        "rows": rows,
        "losses": [
            {k: run[k] for k in ("scheme", "width", "seed", "loss_init", "loss_trained")}
            for run in runs
        ],
        "worst": worst_rows,
    }
    save_json(out / f"ranges_{model_name}.json", payload, started=started)
    (out / f"ranges_{model_name}.md").write_text(summary_table(rows) + "\n")
    for which, row in worst_rows.items():
        if row is not None:
            print(
                f"worst {which}: {row['model']} {row['scheme']} {row['phase']} "
                f"{row['layer']} {row['role']} n={row['width']}: measured "
                f"{100 * row[f'{which}_measured']:.3g}% predicted "
                f"{100 * row[f'{which}_predicted']:.3g}%"
            )
    print(f"saved {out / f'ranges_{model_name}.json'} ({time.time() - started:.0f} s)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny CPU version (tests)")
    parser.add_argument("--out", default=None)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3, help="the 'trained' snapshot's step")
    parser.add_argument("--models", default="mlp,transformer")
    args = parser.parse_args(argv)
    from tqdm.std import tqdm  # tqdm.auto warns on book pages (no notebook widgets)

    grid: dict[str, tuple[int, ...]]
    schemes: tuple[str, ...]
    if args.quick:
        grid = {"mlp": (32, 64), "transformer": (32, 64)}
        base, schemes, batch = 32, ("u-mup",), {"mlp": 16, "transformer": 2}
    else:
        grid = {"mlp": (128, 256, 512, 1024, 2048, 4096), "transformer": (128, 256, 512, 1024)}
        base, schemes, batch = 128, SCHEMES, {"mlp": 64, "transformer": 8}
    models = [m.strip() for m in args.models.split(",")]
    bad = [m for m in models if m not in grid]
    if bad:
        raise ValueError(f"--models {bad}; accepted: {', '.join(grid)}")
    lr = 2.0**-7
    out = Path(args.out) if args.out else OUT
    status = 0
    for model_name in models:
        started = time.time()
        todo = [
            (s, w, seed) for s in schemes for seed in range(args.seeds) for w in grid[model_name]
        ]
        runs = []
        for scheme, width, seed in tqdm(todo, desc=f"precision ranges ({model_name})"):
            r = measure(model_name, scheme, width, base, seed, args.steps, lr, batch[model_name])
            runs.append({"model": model_name, "scheme": scheme, "width": width, "seed": seed, **r})
        rows = predictions(runs, base)
        config = {
            "model": model_name,
            "widths": list(grid[model_name]),
            "schemes": list(schemes),
            "seeds": args.seeds,
            "steps": args.steps,
            "base_width": base,
            "lr": lr,
            "optimizer": "adam",
            "batch": batch[model_name],
            "formats": {"forward": FORWARD_FORMAT, "gradient": GRADIENT_FORMAT},
            "data": {"mlp": "sklearn digits", "transformer": "CPython pydoc text, context 32"}[
                model_name
            ],
            "assumption": "zero-mean Gaussian entries; exact zeros (ReLU) left out of RMS and "
            "counts; tensors above 2^20 entries judged on 2^20 entries drawn with a fixed seed",
        }
        _save_ranges(out, config, runs, rows, started)
        if not all(math.isfinite(r["rms_measured"]) for r in rows):
            status = 1
    return status


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
