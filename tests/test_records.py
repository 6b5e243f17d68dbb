"""abcparam.records: strict JSON, relative paths, one provenance block."""

import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from abcparam.records import (
    describe,
    load_json,
    loads_strict,
    provenance,
    relative,
    repo_root,
    save_json,
    strict,
)

ROOT = repo_root()


def test_strict_replaces_nonfinite_and_says_where():
    found = {}
    out = strict({"a": float("nan"), "b": [1.0, float("inf"), {"c/d": -math.inf}], "e": 2.5}, found)
    assert out == {"a": None, "b": [1.0, None, {"c/d": None}], "e": 2.5}
    assert found == {"/a": "nan", "/b/1": "inf", "/b/2/c~1d": "-inf"}
    json.dumps(out, allow_nan=False)  # accepted by a strict writer


def test_strict_converts_numpy_tuples_fractions_and_dataclasses():
    @dataclass
    class Point:
        x: float
        tag: tuple

    found = {}
    out = strict(
        {
            "np": np.float32("nan"),
            "arr": np.array([1.0, np.inf]),
            "i": np.int64(3),
            "frac": Fraction(1, 2),
            "pt": Point(float("-inf"), (1, 2)),
            3: "int key",
        },
        found,
    )
    assert out == {
        "np": None,
        "arr": [1.0, None],
        "i": 3,
        "frac": "1/2",
        "pt": {"x": None, "tag": [1, 2]},
        "3": "int key",
    }
    assert set(found) == {"/np", "/arr/1", "/pt/x"}


def test_strict_rejects_unknown_types_by_name():
    with pytest.raises(TypeError, match="object at /x"):
        strict({"x": object()})


def test_paths_become_relative_to_the_repository():
    inside = ROOT / "experiments" / "results" / "x"
    assert relative(inside) == "experiments/results/x"
    assert relative("/elsewhere/machine/out") == "out"  # no absolute machine path survives
    assert relative("results/x") == "results/x"
    assert strict({"p": inside, "s": str(inside), "t": "/not/a/repo/path"}) == {
        "p": "experiments/results/x",
        "s": "experiments/results/x",
        "t": "/not/a/repo/path",  # a string outside the repository is left alone
    }


def test_provenance_has_every_field():
    started = time.time() - 2.0
    p = provenance(f"python {ROOT}/experiments/run.py --out {ROOT}/x", started)
    assert set(p) >= {
        "command",
        "abcparam",
        "git_commit",
        "git_dirty",
        "torch",
        "device",
        "python",
        "platform",
        "date",
        "wall_s",
    }
    assert p["command"] == "python experiments/run.py --out x"
    assert str(ROOT) not in json.dumps(p)
    assert 1.9 < p["wall_s"] < 60
    assert p["date"].endswith("+00:00")
    import abcparam

    assert p["abcparam"] == abcparam.__version__
    if (ROOT / ".git").exists():
        assert p["git_commit"] and len(p["git_commit"]) == 40
    assert provenance()["wall_s"] is None
    # a path outside the repository is kept as given: the command reproduces the run (issue 29)
    outside = "python x.py --out /tmp/scratch/run1"
    assert provenance(outside)["command"] == outside


def test_save_json_writes_strict_json_with_provenance(tmp_path):
    path = save_json(
        tmp_path / "sub" / "results.json",
        {
            "slope": float("nan"),
            "fits": [{"a": float("nan")}, {"a": float("inf")}, {"a": 1.0}],
            "where": ROOT / "experiments",
            "nulls": {"/x": "given"},
        },
        command="python demo.py",
        started=time.time(),
        why={"/fits/*/a": "no fit at this step"},
    )
    text = path.read_text()
    assert "NaN" not in text and str(ROOT) not in text
    data = load_json(path)
    assert data["slope"] is None
    assert data["where"] == "experiments"
    assert data["nulls"]["/slope"] == "nan in 1 place: not representable in JSON; written as null"
    assert data["nulls"]["/fits/*/a"] == "inf/nan in 2 places: no fit at this step"
    assert data["fits"][1] == {"a": None}
    assert data["nulls"]["/x"] == "given"  # the caller's own reason is kept
    assert data["provenance"]["command"] == "python demo.py"
    assert data["provenance"]["wall_s"] is not None


def test_save_json_keeps_a_given_provenance(tmp_path):
    path = save_json(
        tmp_path / "r.json",
        {"v": 1, "provenance": {"command": "python old.py", "date": "2020-01-01T00:00:00+00:00"}},
    )
    block = load_json(path)["provenance"]
    assert block["command"] == "python old.py"
    assert block["date"].startswith("2020")
    assert "git_commit" in block


def test_describe_gives_one_line():
    line = describe(
        {"command": "python x.py", "git_commit": "a" * 40, "git_dirty": True, "wall_s": 12.4}
    )
    assert line == (
        "`python x.py`; commit aaaaaaaaaa (modified tree; not in this history); wall time 12 s"
    )
    # written as the work began (0 s): no wall time to state, rather than a false "0 s"
    assert "wall time" not in describe({"command": "python x.py", "wall_s": 0.0})


def test_save_json_refuses_a_non_mapping(tmp_path):
    with pytest.raises(TypeError, match="mapping"):
        save_json(tmp_path / "r.json", [1, 2])


def test_strict_loader_refuses_nan():
    with pytest.raises(ValueError, match="NaN"):
        loads_strict('{"a": NaN}')
    assert loads_strict('{"a": null}') == {"a": None}


def test_records_does_not_import_torch():
    code = (
        "import sys, abcparam.records as r; r.provenance(); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(ROOT))


def test_provenance_names_the_modified_files_and_a_given_device():
    p = provenance("python x.py", device="cuda (NVIDIA H200)")
    assert p["device"] == "cuda (NVIDIA H200)"
    if p["git_dirty"]:
        assert p["git_modified"] and all(not f.startswith("/") for f in p["git_modified"])
    else:
        assert "git_modified" not in p


def test_merged_device_is_the_device_of_the_parts():
    from abcparam.records import merged_device

    parts = {
        "a": {"v": 1, "provenance": {"git_commit": "x", "device": "cuda (NVIDIA H200)"}},
        "b": [{"provenance": {"git_commit": "y", "device": "cuda (NVIDIA H200)"}}],
    }
    assert merged_device(parts) == "cuda (NVIDIA H200)"
    parts["c"] = {"provenance": {"git_commit": "z", "device": "cpu (1 torch threads)"}}
    assert merged_device(parts) == "cuda (NVIDIA H200) + cpu (1 torch threads)"
    assert merged_device({"v": 1}) is None


def test_save_json_records_the_device_it_is_given(tmp_path):
    path = save_json(tmp_path / "r.json", {"v": 1}, device="cuda (NVIDIA H200)")
    assert load_json(path)["provenance"]["device"] == "cuda (NVIDIA H200)"


def test_the_commit_is_the_one_the_code_was_loaded_from():
    from abcparam.records import code_state

    commit, _, _ = code_state()
    if commit is not None:
        assert provenance()["git_commit"] == commit
