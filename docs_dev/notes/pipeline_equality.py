"""Records of run_coord_check before and after the one-pipeline change, compared.

Usage (from the repository root): ``python docs_dev/notes/pipeline_equality.py [OLD_COMMIT]``
(default 51e605c, the commit before the change).  The old package is extracted with
``git archive`` into a temporary folder; each side runs in its own process on one thread over
18 configurations (MLP and GPT; mup/adam and sp/sgd; derived and constant LR exponents; fixed
and fresh batches; bfloat16 autocast once; widths 32, 64, 128; 2 steps; 2 seeds) and the
records, fits, summaries, flags and topologies are compared.
"""

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

RUN = r"""
import json, sys, torch
torch.set_num_threads(1)
from abcparam.coordcheck import run_coord_check

configs = []
for model in ("mlp", "transformer"):
    for scheme, opt in (("mup", "adam"), ("sp", "sgd")):
        for lrx in ("derived", "constant"):
            for fixed in (True, False):
                configs.append(dict(model=model, scheme=scheme, optimizer=opt, lr_exponents=lrx,
                                    fixed_batch=fixed))
for model in ("mlp", "transformer"):
    configs.append(dict(model=model, scheme="mup", optimizer="adam", autocast="bfloat16"))
out = {}
for c in configs:
    d = run_coord_check(widths=(32, 64, 128), steps=2, seeds=2, progress=False, **c).to_dict()
    out[json.dumps(c, sort_keys=True)] = {
        "records": d["records"], "fits": d["fits"], "summary": d["summary"],
        "flags": d["flags"], "topology": d["config"]["topology"],
    }
json.dump(out, open(sys.argv[1], "w"))
"""


def run(tree: Path, path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run([sys.executable, "-c", RUN, str(path)], check=True, env=env, cwd=tree)
    return json.loads(path.read_text())


def largest_difference(old: dict, new: dict) -> float:
    """The largest relative difference of any record value; anything else must be equal."""
    worst = 0.0
    assert old.keys() == new.keys()
    for key in old:
        for part in ("fits", "summary", "flags", "topology"):
            assert old[key][part] == new[key][part], (key, part)
        assert len(old[key]["records"]) == len(new[key]["records"]), key
        for a, b in zip(old[key]["records"], new[key]["records"]):
            assert a.keys() == b.keys(), key
            for f, u in a.items():
                v = b[f]
                if isinstance(u, float) and v is not None:
                    worst = max(worst, abs(u - v) / max(abs(u), 1e-300))
                else:
                    assert u == v, (key, f, u, v)
    return worst


def main(commit: str = "51e605c") -> None:
    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        archive = tmp_path / "old.tar"
        with archive.open("wb") as f:
            subprocess.run(["git", "archive", commit, "abcparam"], cwd=root, stdout=f, check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(tmp_path / "old", filter="data")
        old = run(tmp_path / "old", tmp_path / "old.json")
        new = run(root, tmp_path / "new.json")
    worst = largest_difference(old, new)
    print(
        f"{len(old)} configurations; records, fits, summaries, flags and topologies equal; "
        f"largest relative difference of a record value {worst:.3g}"
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
