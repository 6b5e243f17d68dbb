"""Equality check for recorder changes: dump a coordinate check's records from one source tree,
then compare two dumps to float32 round-off.

Run (from the tree whose recorder is measured, that tree first on the path):
``PYTHONPATH=$PWD python docs_dev/notes/recspeed_equal.py dump /tmp/after.json``, the same from
the old tree into /tmp/before.json, then ``... compare /tmp/before.json /tmp/after.json``.
"""

from __future__ import annotations

import json
import math
import sys

CASES = {  # name: run_coord_check arguments (widths above 128: the sketch strides > 1)
    "mlp": {"model": "mlp", "widths": (64, 256, 512), "steps": 3},
    "transformer": {"model": "transformer", "widths": (64, 256), "steps": 3},
    "mlp_fresh_batches": {"model": "mlp", "widths": (64, 256), "steps": 3, "fixed_batch": False},
    "transformer_sgd": {
        "model": "transformer",
        "widths": (64, 256),
        "steps": 2,
        "optimizer": "sgd",
    },
}


def dump(path: str) -> None:
    import torch

    from abcparam.coordcheck import run_coord_check

    torch.set_num_threads(1)
    out = {}
    for name, kwargs in CASES.items():
        result = run_coord_check(seeds=2, progress=False, **kwargs)
        out[name] = [r.to_json(strict=False) for r in result.records]
    with open(path, "w") as f:
        json.dump(out, f)
    print(f"wrote {path}: {sum(len(v) for v in out.values())} records")


def compare(a_path: str, b_path: str, rtol: float = 1e-5) -> int:
    """Largest relative difference per quantity; 1 if a key, a None or a value differs."""
    a, b = json.load(open(a_path)), json.load(open(b_path))
    worst: dict[str, float] = {}
    bad = 0
    for case in a:
        if len(a[case]) != len(b[case]):
            print(f"{case}: {len(a[case])} vs {len(b[case])} records")
            return 1
        for ra, rb in zip(a[case], b[case]):
            for key, va in ra.items():
                vb = rb.get(key)
                if isinstance(va, float) and isinstance(vb, float):
                    if math.isnan(va) and math.isnan(vb):
                        continue
                    rel = abs(va - vb) / max(abs(va), abs(vb), 1e-30)
                    worst[key] = max(worst.get(key, 0.0), rel)
                    bad += rel > rtol and abs(va - vb) > 1e-7
                elif va != vb:
                    print(f"{case} {ra['layer']} step {ra['step']} {key}: {va!r} vs {vb!r}")
                    bad += 1
    for key, rel in sorted(worst.items()):
        print(f"{key:>18}: max relative difference {rel:.2e}")
    n = sum(len(v) for v in a.values())
    print(f"{n} records, {bad} values beyond rtol {rtol}")
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        dump(sys.argv[2])
    else:
        sys.exit(compare(sys.argv[2], sys.argv[3]))
