"""Lion's accumulated update on the character-level GPT over fresh batches: real text against the
random-token control (issue "Optimizers beyond Adam").

On random tokens (the built-in check's data) Lion's per-step entries follow the derived n^-1
exactly while its accumulated update after 20-100 fresh batches falls faster, like n^-1.1 to
n^-1.3: the signs of wider layers agree less from step to step.  Random next tokens carry no
signal, so every gradient entry is noise; this experiment asks whether real text, whose gradient
has a signal shared across batches, keeps the signs coherent.  Adam is run beside Lion.
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

    from ..transfer.data import lm_batch, pydoc_text

    ids = pydoc_text()[0]

    def batch(seed: int):
        g = torch.Generator().manual_seed(20_000 + seed)
        if data == "text":
            return lm_batch(ids, 32, 32, g)
        tokens = torch.randint(0, vocab, (32, 33), generator=g)
        return tokens[:, :-1], tokens[:, 1:]

    return batch


def run(widths: Sequence[int], steps: int, seeds: int, out: Path) -> dict:
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
    for optimizer, lr in (("lion", 1e-3), ("adam", 1e-2)):
        for data in ("text", "random"):
            res = check(
                lambda w: build_model("transformer", w, vocab=vocab),
                abcparam.rules("mup", optimizer=optimizer),
                batches(data, vocab),
                widths=widths,
                steps=steps,
                seeds=seeds,
                lr=lr,
                fresh_batches=True,
                progress=False,
                name=f"gpt-{data}",
                out=out / f"{optimizer}_{data}",
            )
            hidden_updates = {}
            for f in res.fits:
                if f.quantity == "update" and f.kind == "hidden" and f.step in STEPS_SHOWN:
                    hidden_updates.setdefault(f.step, []).append(f.measured_slope)
            result["runs"][f"{optimizer}_{data}"] = {
                "lr": lr,
                "summary": res.summary(),
                "hidden_update_slope_mean": {
                    str(s): sum(v) / len(v) for s, v in sorted(hidden_updates.items())
                },
            }
            print(f"{optimizer} {data}: {res.summary()}", flush=True)
            print(
                "   mean hidden update slope by step:",
                result["runs"][f"{optimizer}_{data}"]["hidden_update_slope_mean"],
                flush=True,
            )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    from ..records import results_dir, save_json
    from . import reproducible

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="widths 32-64, 2 steps (a test)")
    parser.add_argument("--out", default=None, help=f"default: experiments/results/{OUT}")
    args = parser.parse_args(argv)
    reproducible()
    started = time.time()
    out = Path(args.out) if args.out else results_dir(OUT)
    widths, steps, seeds = ((32, 64), 2, 1) if args.quick else ((128, 256, 512), 100, 2)
    result = run(widths, steps, seeds, out)
    path = save_json(out / "summary.json", result, started=started)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
