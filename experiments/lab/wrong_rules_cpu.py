"""How discriminating is the coordinate check?  Train with a deliberately wrong table, judge it
against the right one (issue: alignment-aware coordinate checks, "a deliberately wrong rule").

For SP, muP and u-muP with SGD and Adam, each of the MLP's layer kinds (embedding, hidden,
readout) gets its LR exponent c or its init exponent b moved by +1/2 or -1/2: 72 wrong tables.
Each is trained (widths 128..1024, 3 steps, 2 seeds) and compared with the *right* table's
predictions; a mutation is caught when some judged fit misses the measured-alignment prediction.
Run: ``python experiments/wrong_rules_cpu.py`` (writes experiments/results/wrong_rules_cpu/).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import sympy
from tqdm.std import tqdm  # tqdm.auto warns on book pages (no notebook widgets)

import abcparam
from abcparam.coordcheck import CoordCheckConfig, compare, run_coord_check
from abcparam.records import load_json, save_json
from experiments.lab.paths import results_dir

from . import reproducible

SCHEMES = ("sp", "mup", "u-mup")
OPTIMIZERS = ("sgd", "adam")
KINDS = ("embedding", "hidden", "readout")
SHIFTS = (sympy.Rational(1, 2), sympy.Rational(-1, 2))


def mutate(rules, kind: str, exponent: str, shift) -> object:
    """The same table with one layer kind's ``b`` or ``c`` moved by ``shift``."""
    if exponent == "c":
        return rules.with_c({kind: rules[kind].c + shift})
    layers = dict(rules.layers)
    layers[kind] = replace(layers[kind], b=layers[kind].b + shift)
    return replace(rules, layers=layers)


def judge(
    scheme: str, optimizer: str, kind: str, exponent: str, shift, widths, steps, seeds
) -> dict:
    right = abcparam.rules(scheme, optimizer=optimizer)
    wrong = mutate(right, kind, exponent, shift)
    trained = run_coord_check(
        scheme=scheme,
        optimizer=optimizer,
        rules=wrong,
        widths=widths,
        steps=steps,
        seeds=seeds,
        progress=False,
    )
    claimed = compare(CoordCheckConfig.from_dict(trained.config), right, trained.records, [])
    missed = [f for f in claimed.judged if not f["pass"]]
    worst = max(claimed.judged, key=lambda f: abs(f["measured_slope"] - f["predicted_slope"]))
    return {
        "scheme": scheme,
        "optimizer": optimizer,
        "kind": kind,
        "exponent": exponent,
        "shift": str(shift),
        "caught": bool(missed),
        "caught_by_delta": any(f["quantity"] == "delta" for f in missed),
        "misses": [(f["layer"], f["quantity"], f["step"]) for f in missed],
        "worst": {
            "layer": worst["layer"],
            "quantity": worst["quantity"],
            "step": worst["step"],
            "measured": worst["measured_slope"],
            "predicted": worst["predicted_slope"],
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument(
        "--out", default=None, help="results folder (default: experiments/results/wrong_rules_cpu)"
    )
    args = parser.parse_args(argv)
    reproducible()
    widths = (128, 256, 512, 1024)
    t0 = time.perf_counter()
    started = time.time()
    cases = [
        (s, o, k, e, d)
        for s in SCHEMES
        for o in OPTIMIZERS
        for k in KINDS
        for e in ("b", "c")
        for d in SHIFTS
    ]
    rows = [
        judge(*case, widths, args.steps, args.seeds) for case in tqdm(cases, desc="wrong rules")
    ]
    wall = time.perf_counter() - t0
    caught = sum(r["caught"] for r in rows)
    by_delta = sum(r["caught_by_delta"] for r in rows)
    out = Path(args.out) if args.out else results_dir("wrong_rules_cpu")
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "widths": list(widths),
        "steps": args.steps,
        "seeds": args.seeds,
        "tolerance": 0.15,
    }
    saved = save_json(
        out / "results.json",
        {
            "config": config,
            "caught": caught,
            "caught_by_delta": by_delta,
            "cases": len(rows),
            "rows": rows,
        },
        started=started,
    )
    command = load_json(saved)["provenance"]["command"]
    lines = [
        "| scheme | optimizer | layer | exponent | shift | caught | by delta | worst miss |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        w = r["worst"]
        lines.append(
            f"| {r['scheme']} | {r['optimizer']} | {r['kind']} | {r['exponent']} | "
            f"{r['shift']} | {'yes' if r['caught'] else 'NO'} | "
            f"{'yes' if r['caught_by_delta'] else 'no'} | {w['layer']} {w['quantity']} "
            f"step {w['step']}: {w['measured']:+.2f} vs {w['predicted']:+.2f} |"
        )
    (out / "summary.md").write_text(
        f"# Wrong tables caught by the coordinate check\n\nCommand: `{command}`; "
        f"widths {list(widths)}, {args.steps} steps, {args.seeds} seeds; wall {wall:.0f} s.\n\n"
        f"Caught {caught}/{len(rows)}; by a delta fit alone {by_delta}/{len(rows)}.\n\n"
        + "\n".join(lines)
        + "\n"
    )
    print(f"caught {caught}/{len(rows)}, by delta {by_delta}/{len(rows)}, wall {wall:.0f} s")
    return 0
