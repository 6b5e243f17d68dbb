"""Lion's accumulated update on the character-level GPT over fresh batches: real text against the
random-token control (issue "Optimizers beyond Adam").

On random tokens (the built-in check's data) Lion's per-step entries follow the derived n^-1
exactly while its accumulated update after 20-100 fresh batches falls faster, like n^-1.1 to
n^-1.3: the signs of wider layers agree less from step to step.  Random next tokens carry no
signal, so every gradient entry is noise; this experiment asks whether real text, whose gradient
has a signal shared across batches, keeps the signs coherent.  Adam is run beside Lion.  On
random tokens the one signal shared across batches is to pull the initial logits towards
uniform, and under muP those logits shrink like n^-1/2: a signal fading with width against
width-independent noise would explain the fading coherence.  The last arm tests that: random
tokens with the readout started at zero (no initial logits, so no shared signal at any width)
should bring the accumulated update back onto n^-1.
GPT of the built-in check (2 blocks) with the pydoc vocabulary, muP, 32 windows of 32 characters
per step, 100 steps, widths 128-512, 2 seeds (CPU).
Run: ``python experiments/lion_real_data.py [--quick]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

OUT = "lion_real_data"
STEPS_SHOWN = (1, 10, 20, 50, 100)


def batches(data: str, vocab: int):
    """seed -> (inputs, targets): 32 windows of 32 characters, of the pydoc text or uniformly
    random tokens (the control)."""
    import torch

    from abcparam.transfer.data import lm_batch, pydoc_text

    ids = pydoc_text()[0]

    def batch(seed: int):
        g = torch.Generator().manual_seed(20_000 + seed)
        if data == "text":
            return lm_batch(ids, 32, 32, g)
        tokens = torch.randint(0, vocab, (32, 33), generator=g)
        return tokens[:, :-1], tokens[:, 1:]

    return batch


def run(widths: Sequence[int], steps: int, seeds: int, out: Path, only: Sequence[str] = ()) -> dict:
    import abcparam
    from abcparam.coordcheck.check import check
    from abcparam.torch.models import build_model
    from abcparam.transfer.data import pydoc_text

    vocab = len(pydoc_text()[2])
    result: dict = {
        "widths": list(widths),
        "steps": steps,
        "seeds": seeds,
        "vocab": vocab,
        "runs": {},
    }
    arms = [
        (o, lr, d, False) for o, lr in (("lion", 1e-3), ("adam", 1e-2)) for d in ("text", "random")
    ]
    arms.append(("lion", 1e-3, "random", True))  # the mechanism test (module docstring)
    for optimizer, lr, data, zero in arms:
        if only and f"{optimizer}_{data}{'_zero_readout' if zero else ''}" not in only:
            continue
        res = check(
            lambda w: build_model("transformer", w, vocab=vocab),
            abcparam.rules("mup", optimizer=optimizer),
            batches(data, vocab),
            widths=widths,
            steps=steps,
            seeds=seeds,
            lr=lr,
            fresh_batches=True,
            zero_readout=zero,
            progress=False,
            name=f"gpt-{data}",
            out=out / f"{optimizer}_{data}{'_zero_readout' if zero else ''}",
        )
        hidden_updates = {}
        for f in res.fits:
            if f.quantity == "update" and f.kind == "hidden" and f.step in STEPS_SHOWN:
                hidden_updates.setdefault(f.step, []).append(f.measured_slope)
        key = f"{optimizer}_{data}{'_zero_readout' if zero else ''}"
        result["runs"][key] = {
            "lr": lr,
            "summary": res.summary(),
            "hidden_update_slope_mean": {
                str(s): sum(v) / len(v) for s, v in sorted(hidden_updates.items())
            },
        }
        print(f"{key}: {res.summary()}", flush=True)
        print(
            "   mean hidden update slope by step:",
            result["runs"][key]["hidden_update_slope_mean"],
            flush=True,
        )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    from abcparam.records import save_json
    from experiments.lab.paths import results_dir

    from . import reproducible

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="widths 32-64, 2 steps (a test)")
    parser.add_argument("--out", default=None, help=f"default: experiments/results/{OUT}")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated runs, e.g. lion_random_zero_readout (added to a saved summary.json)",
    )
    args = parser.parse_args(argv)
    reproducible()
    started = time.time()
    out = Path(args.out) if args.out else results_dir(OUT)
    widths, steps, seeds = ((32, 64), 2, 1) if args.quick else ((128, 256, 512), 100, 2)
    only = [o for o in args.only.split(",") if o]
    result = run(widths, steps, seeds, out, only)
    if only and (out / "summary.json").exists():  # add to the saved runs
        import json

        saved = json.loads((out / "summary.json").read_text())
        result["runs"] = {**saved["runs"], **result["runs"]}
        # the kept runs' provenance stays with them (audited like this run's own)
        result["merged_from"] = [*saved.get("merged_from", []), saved.get("provenance")]
    path = save_json(out / "summary.json", result, started=started)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
