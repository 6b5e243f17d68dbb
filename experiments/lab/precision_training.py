"""Simulated FP8 and bf16 training of the character-level GPT: loss gap to fp32 per scheme and width.

Variants (every one from the same seed, data order and base-width hyperparameters):
- ``fp32``: the reference;
- ``fp8``: every hidden matmul (attention q/k/v/o, MLP fc1/fc2) reads e4m3 inputs and weights and
  back-propagates e5m2 gradients, with the multiplier as the only (static) scale — no dynamic
  scaling, no loss scaling (μnit Scaling's recipe, Narayan et al. 2025, Sec. 3); embeddings and
  readout stay in fp32;
- ``bf16``: hidden matmuls in bf16 and every parameter and Adam moment stored in bf16 (rounded
  after each step), Adam's eps scaled per layer as the rules say.
- ``fp8-scaled``: as fp8, with a static backward scale per hidden matmul, 1 / (the predicted
  RMS of its gradient): measured once at the base width, carried to the width by the engine's
  ``grad_matmul`` exponent — no dynamic scaling, the scale is known before training.
The gap is the validation loss minus fp32's.  ``u-mup:tuned`` is u-μP with the base model's
constants left in the init (not unit-scaled): the same fp32 run, a different FP8 one.

Run: ``python experiments/precision_training.py [--quick]`` (experiments/results/precision/).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

SCHEMES = ("sp", "mup", "u-mup", "munit", "u-mup:tuned")
VARIANTS = ("fp32", "fp8", "bf16", "fp8-scaled")
OUT = Path("experiments") / "results" / "precision"


def train(
    scheme: str,
    variant: str,
    width: int,
    base_width: int,
    steps: int,
    seed: int,
    lr: float,
    batch: int,
    context: int = 32,
) -> dict:
    """Train one GPT; returns its final validation loss (None if it diverged)."""
    import torch
    import torch.nn.functional as F

    import abcparam
    from abcparam.torch.apply import build_optimizer
    from abcparam.torch.lowp import quantize_hidden, round_state
    from abcparam.torch.precision import build
    from abcparam.transfer import data

    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; accepted: {', '.join(VARIANTS)}")
    torch.set_num_threads(1)
    name, _, flavour = scheme.partition(":")
    unit = False if flavour == "tuned" else None
    rules = abcparam.rules(name, "adam")
    train_ids, val_ids, vocab = data.pydoc_text()
    model, spec = build(
        "transformer",
        width,
        rules,
        base_width,
        seed,
        unit=unit,
        n_layers=2,
        n_heads=4,
        vocab=len(vocab),
        context=context,
    )
    if variant == "fp8":
        quantize_hidden(model, "e4m3", "e5m2")
    elif variant == "fp8-scaled":
        scales = backward_scales(rules, unit, width, base_width, seed, lr, batch, context)
        quantize_hidden(model, "e4m3", "e5m2", scales)
    elif variant == "bf16":
        quantize_hidden(model, "bf16", "bf16")
        round_state(model, None, "bf16")
    opt = build_optimizer(model, spec, lr=lr)
    g = torch.Generator().manual_seed(seed)

    def loss_of(x, y):
        out = model(x)
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))

    curve: list = []
    for step in range(steps):
        loss = loss_of(*data.lm_batch(train_ids, batch, context, g))
        if not torch.isfinite(loss):
            return {"val_loss": None, "diverged_at": step, "curve": curve}
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if variant == "bf16":
            round_state(model, opt, "bf16")
        if step % 10 == 0:
            curve.append(float(loss.detach()))
    gv = torch.Generator().manual_seed(10_000 + seed)
    with torch.no_grad():
        val = sum(float(loss_of(*data.lm_batch(val_ids, batch, context, gv))) for _ in range(8))
    val /= 8
    return {
        "val_loss": val if math.isfinite(val) else None,
        "diverged_at": None,
        "curve": curve,
    }


def backward_scales(rules, unit, width, base_width, seed, lr, batch, context) -> dict[str, float]:
    """Per hidden matmul: 1 / predicted RMS of the gradient it back-propagates at ``width`` —
    measured on the base-width model (one step on a separate batch), times (n/n0)^e with e the
    engine's ``grad_matmul`` exponent (queries and keys through the attention logits)."""
    import torch
    import torch.nn.functional as F

    from abcparam.engine.precision import role_exponents
    from abcparam.torch.apply import build_optimizer
    from abcparam.torch.precision import build, record_step
    from abcparam.transfer import data

    train_ids, _, vocab = data.pydoc_text()
    kw = {"n_layers": 2, "n_heads": 4, "vocab": len(vocab), "context": context}
    base, spec = build("transformer", base_width, rules, base_width, seed, unit=unit, **kw)
    x, y = data.lm_batch(train_ids, batch, context, torch.Generator().manual_seed(seed + 777))

    def loss_fn():
        out = base(x)
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))

    stats, _ = record_step(base, build_optimizer(base, spec, lr=lr), loss_fn, formats=())
    plain, qk = role_exponents(rules), role_exponents(rules, attention="qk")
    out = {}
    for name, roles in stats.items():
        if "grad_matmul" not in roles or not name.startswith("blocks."):
            continue
        table = qk if name.endswith((".attn.q", ".attn.k")) else plain
        e = float(table[("hidden", "grad_matmul")].exponent)
        out[name] = 1.0 / (roles["grad_matmul"]["rms"] * (width / base_width) ** e)
    return out


def gap_statistics(runs: list[dict], level: float = 0.95) -> dict[tuple[str, str, int], dict]:
    """Per (scheme, variant, width): the seed-paired gaps to fp32, their mean and a Student-t
    interval over seeds (None with one seed or a diverged run) — the noise a gap is judged by."""
    import numpy as np
    from scipy import stats

    ref = {
        (r["scheme"], r["width"], r["seed"]): r["val_loss"] for r in runs if r["variant"] == "fp32"
    }
    gaps: dict[tuple[str, str, int], list[float | None]] = {}
    for r in runs:
        if r["variant"] == "fp32":
            continue
        base = ref.get((r["scheme"], r["width"], r["seed"]))
        gap = None if r["val_loss"] is None or base is None else r["val_loss"] - base
        gaps.setdefault((r["scheme"], r["variant"], r["width"]), []).append(gap)
    out = {}
    for key, xs in gaps.items():
        if any(x is None for x in xs):
            out[key] = {"gaps": xs, "mean": None, "interval": None, "seeds": len(xs)}
            continue
        a = np.asarray(xs, dtype=float)
        interval = None
        if len(a) >= 2:
            half = stats.t.ppf(0.5 + level / 2, len(a) - 1) * a.std(ddof=1) / np.sqrt(len(a))
            interval = [float(a.mean() - half), float(a.mean() + half)]
        out[key] = {"gaps": xs, "mean": float(a.mean()), "interval": interval, "seeds": len(a)}
    return out


def gap_table(runs: list[dict]) -> str:
    """Markdown: validation loss gap to fp32 per scheme, variant and width (seed mean, with its
    95 % Student-t interval over seeds when there are several)."""
    widths = sorted({r["width"] for r in runs})
    stats = gap_statistics(runs)
    ref = {
        (r["scheme"], r["width"], r["seed"]): r["val_loss"] for r in runs if r["variant"] == "fp32"
    }
    cells: dict[tuple[str, str], dict[int, list[float | None]]] = {}
    for r in runs:
        if r["variant"] == "fp32":
            continue
        base = ref.get((r["scheme"], r["width"], r["seed"]))
        gap = None if r["val_loss"] is None or base is None else r["val_loss"] - base
        cells.setdefault((r["scheme"], r["variant"]), {}).setdefault(r["width"], []).append(gap)
    lines = [
        "| scheme | variant | " + " | ".join(f"gap @ {w}" for w in widths) + " |",
        "|---|---|" + "---|" * len(widths),
    ]
    for scheme, variant in sorted(cells, key=lambda k: (k[1], k[0])):
        vals = []
        for w in widths:
            gaps = cells[(scheme, variant)].get(w, [])
            if not gaps:
                vals.append("")
            elif any(x is None for x in gaps):
                vals.append("diverged")
            else:
                st = stats[(scheme, variant, w)]
                iv = st["interval"]
                vals.append(f"{st['mean']:+.3f}" + (f" [{iv[0]:+.3f}, {iv[1]:+.3f}]" if iv else ""))
        lines.append(f"| {scheme} | {variant} | " + " | ".join(vals) + " |")
    lines.append("")
    lines.append(
        "| scheme | " + " | ".join(f"fp32 loss @ {w}" for w in widths) + " |",
    )
    lines.append("|---|" + "---|" * len(widths))
    for scheme in sorted({r["scheme"] for r in runs}):
        vals = []
        for w in widths:
            xs = [v for (s, ww, _), v in ref.items() if s == scheme and ww == w and v is not None]
            vals.append(f"{sum(xs) / len(xs):.3f}" if xs else "")
        lines.append(f"| {scheme} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def _names(text: str, accepted: tuple[str, ...], flag: str) -> tuple[str, ...]:
    """The comma-separated names in ``text``, each one of ``accepted``."""
    names = tuple(x.strip() for x in text.split(","))
    bad = [x for x in names if x not in accepted]
    if bad:
        raise ValueError(f"{flag} {bad}; accepted: {', '.join(accepted)}")
    return names


def _kept_runs(path: Path, todo: list[tuple]) -> list[dict]:
    """The runs saved in ``path`` (if any) that this invocation does not redo (``--merge``)."""
    if not path.exists():
        return []
    from abcparam.records import load_json

    redo = set(todo)
    return [
        r
        for r in load_json(path)["runs"]
        if (r["scheme"], r["variant"], r["width"], r["seed"]) not in redo
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny CPU version (tests)")
    parser.add_argument("--out", default=None)
    parser.add_argument("--widths", default="64,128,256")
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--schemes", default=",".join(SCHEMES))
    parser.add_argument(
        "--merge", action="store_true", help="keep the saved runs this invocation does not redo"
    )
    args = parser.parse_args(argv)
    variants = list(_names(args.variants, VARIANTS, "--variants"))
    chosen = _names(args.schemes, SCHEMES, "--schemes")
    from tqdm.std import tqdm  # tqdm.auto warns on book pages (no notebook widgets)

    from abcparam.records import save_json

    started = time.time()
    widths: tuple[int, ...]
    schemes: tuple[str, ...]
    if args.quick:
        widths, steps, schemes, batch, base = (32,), 3, ("u-mup",), 2, 32
    else:
        widths = tuple(int(w) for w in args.widths.split(","))
        steps, schemes, batch, base = args.steps, chosen, 16, 64
    lr = 2.0**-7
    out = Path(args.out) if args.out else OUT
    todo = [
        (s, v, w, seed)
        for w in widths
        for s in schemes
        for seed in range(args.seeds)
        for v in variants
    ]
    runs = _kept_runs(out / "training.json", todo) if args.merge else []
    for scheme, variant, width, seed in tqdm(todo, desc="fp8 / bf16 training"):
        r = train(scheme, variant, width, base, steps, seed, lr, batch)
        runs.append({"scheme": scheme, "variant": variant, "width": width, "seed": seed, **r})
    config = {
        "model": "GPT, 2 blocks, 4 heads, context 32, character-level CPython pydoc text",
        "widths": list(widths),
        "schemes": list(schemes),
        "variants": sorted({r["variant"] for r in runs}),
        "steps": steps,
        "seeds": args.seeds,
        "batch_sequences": batch,
        "base_width": base,
        "lr": lr,
        "optimizer": "adam (eps 1e-8 scaled per layer by the rules)",
    }
    table = gap_table(runs)
    gaps = [
        {"scheme": s, "variant": v, "width": w, **st}
        for (s, v, w), st in sorted(gap_statistics(runs).items())
    ]
    save_json(
        out / "training.json",
        {"config": config, "runs": runs, "gaps": gaps, "table": table},
        started=started,
    )
    (out / "training_summary.md").write_text(table + "\n")
    print(table)
    print(f"saved {out / 'training.json'} ({time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
