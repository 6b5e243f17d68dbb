"""The depth check's records and judgements before and after it joined the one pipeline.

Usage: ``python docs_dev/notes/depth_equality.py [COMMIT]`` (default: main's commit before the
change, c877a5d); ``--reference PATH`` writes the old code's results of the two small
REFERENCE configurations instead (tests/coordcheck/depth_main_records.json, which
tests/coordcheck/test_depth_pipeline.py reproduces).  The old package is extracted with ``git archive`` into a temporary folder;
each side runs in its own process on one thread, on tiny configurations (MLP and GPT; mup,
depth-mup, completep; depths 2, 4, 8; 2 steps; 2 seeds; one width and two widths), and every
record value, fit, width fit, stream prediction and summary is compared.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = [
    {"model": m, "widths": w, "depths": (2, 4, 8), "steps": 2, "seeds": 2, "batch": 16}
    for m in ("mlp", "transformer")
    for w in ((16,), (16, 32))
]
#: the fast test's configurations (small enough to keep their records in the repository)
REFERENCE = [
    {
        "model": "mlp",
        "schemes": ("mup", "completep"),
        "widths": (16,),
        "depths": (2, 4, 8),
        "steps": 2,
        "seeds": 2,
        "batch": 16,
    },
    {
        "model": "transformer",
        "schemes": ("depth-mup",),
        "widths": (16, 32),
        "depths": (2, 4, 8),
        "steps": 1,
        "seeds": 1,
        "batch": 16,
    },
]
RUN = """
import json, sys, torch
torch.set_num_threads(1)
from abcparam.coordcheck import depth
from abcparam.coordcheck.depth import DepthCheckConfig, run_depth_check
print(depth.__file__, "train_one" in vars(depth), file=sys.stderr)
out = []
for c in json.loads(sys.argv[1]):
    c = {k: tuple(v) if isinstance(v, list) else v for k, v in c.items()}
    r = run_depth_check(DepthCheckConfig(**c), progress=False)
    out.append({"records": r.records, "fits": r.fits, "width_fits": r.width_fits,
                "stream": r.stream, "summary": r.summary()})
json.dump(out, open(sys.argv[2], "w"))
"""


def run(package_root: Path, out: Path, configs: list = CONFIGS) -> list:
    env = {"PYTHONPATH": str(package_root), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [sys.executable, "-c", RUN, json.dumps(configs), str(out)],
        check=True,
        env=env,
        cwd=out.parent,  # python -c puts its working folder first on the path
    )
    return json.loads(out.read_text())


def worst(a, b, where="") -> float:
    """Largest relative difference of numbers in two JSON trees (inf: a structural difference)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            print(f"keys differ at {where}: {list(a)} vs {list(b)}")
            return math.inf
        return max((worst(a[k], b[k], f"{where}.{k}") for k in a), default=0.0)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            print(f"lengths differ at {where}: {len(a)} vs {len(b)}")
            return math.inf
        return max(
            (worst(x, y, f"{where}[{i}]") for i, (x, y) in enumerate(zip(a, b))), default=0.0
        )
    if isinstance(a, float) and isinstance(b, float):
        if a == b or (math.isnan(a) and math.isnan(b)):
            return 0.0
        return abs(a - b) / max(abs(a), abs(b))
    if a != b:
        print(f"values differ at {where}: {a!r} vs {b!r}")
        return math.inf
    return 0.0


def main() -> int:
    args = sys.argv[1:]
    reference = None
    if "--reference" in args:
        at = args.index("--reference")
        reference = Path(args[at + 1])
        del args[at : at + 2]
    commit = args[0] if args else "c877a5d"
    with tempfile.TemporaryDirectory() as tmp:
        old_root = Path(tmp) / "old"
        old_root.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit, "abcparam"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(old_root)], input=archive, check=True)
        if reference is not None:
            old = run(old_root, Path(tmp) / "old.json", REFERENCE)
            cases = [{"config": c, **o} for c, o in zip(REFERENCE, old)]
            reference.write_text(json.dumps({"commit": commit, "cases": cases}) + "\n")
            print(f"wrote {reference}: {sum(len(o['records']) for o in old)} records")
            return 0
        old = run(old_root, Path(tmp) / "old.json")
        new = run(ROOT, Path(tmp) / "new.json")
    diff = worst(old, new)
    n = sum(len(o["records"]) for o in old)
    print(f"{len(CONFIGS)} configurations, {n} records; largest relative difference {diff:.3g}")
    return 0 if diff <= 1e-12 else 1


if __name__ == "__main__":
    sys.exit(main())
