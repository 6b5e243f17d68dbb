"""Importing a device run: its stale git snapshot is re-attributed to the commit whose tree was
sent only when the files it saw modified are exactly that commit's changes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from experiments.lab.device_import import (
    import_folder,
    read_code_state,
    reattribute,
    verify_sent,
)

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = "c49e101a78b53790fe4341c4499b1c9a2cf6fe4e"
SENT = "9cd97448dc5f87fe52061a77004aea0821e08854"  # the commit the first H200 slice ran
CHANGED = {
    "experiments/gpu/horizon_grid.sh",
    "experiments/lab/forecasts.py",
    "experiments/lab/horizon_grid.py",
}


def _has(commit: str) -> bool:
    out = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", commit], capture_output=True)
    return out.returncode == 0


needs_history = pytest.mark.skipif(
    not (_has(SNAPSHOT) and _has(SENT)), reason="needs the git history of these commits"
)


def test_code_state_is_read_without_the_results_lines():
    text = f"{SNAPSHOT}\n M experiments/lab/forecasts.py\n D experiments/results/a/runs.jsonl\n"
    assert read_code_state(text) == (SNAPSHOT, {"experiments/lab/forecasts.py"})
    with pytest.raises(ValueError, match="40-hex commit"):
        read_code_state("not a commit\n")


@needs_history
def test_the_sent_commit_is_verified_by_its_changed_files():
    verify_sent(SNAPSHOT, SENT, CHANGED)
    with pytest.raises(ValueError, match="not the files"):
        verify_sent(SNAPSHOT, SENT, CHANGED - {"experiments/lab/forecasts.py"})
    with pytest.raises(ValueError, match="not the files"):
        verify_sent(SNAPSHOT, SENT, CHANGED | {"abcparam/engine/__init__.py"})


def test_only_the_snapshot_blocks_are_reattributed(tmp_path):
    other = {"git_commit": "f" * 40, "git_dirty": False}
    data = {
        "provenance": {"git_commit": SNAPSHOT, "git_dirty": True, "git_modified": ["x.py"]},
        "parts": [other],
    }
    assert reattribute(data, SNAPSHOT, SENT) == 1
    block = data["provenance"]
    assert block["git_commit"] == SENT and block["git_dirty"] is False
    assert block["device_checkout"]["commit"] == SNAPSHOT
    assert block["device_checkout"]["modified"] == ["x.py"]
    assert data["parts"][0] == {"git_commit": "f" * 40, "git_dirty": False}
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "config.json").write_text(json.dumps({"provenance": {"git_commit": SNAPSHOT}}))
    (src / "runs.jsonl").write_text("{}\n{}\n")
    # one block re-attributed, and the same block given the device its workers ran on
    assert import_folder(src, tmp_path / "dest", SNAPSHOT, SENT, "slice.sh", "cuda (H200)") == 2
    saved = json.loads((tmp_path / "dest" / "sub" / "config.json").read_text())
    assert saved["provenance"]["git_commit"] == SENT
    assert saved["provenance"]["device"] == "cuda (H200)"
    made = json.loads((tmp_path / "dest" / "device_run.json").read_text())  # runs, no config
    assert made["runs"] == 2 and made["provenance"]["git_commit"] == SENT
    assert (
        made["provenance"]["git_dirty"] is False and made["provenance"]["device"] == "cuda (H200)"
    )
    with pytest.raises(FileExistsError, match="exists"):
        import_folder(src, tmp_path / "dest", SNAPSHOT, SENT)


def test_the_device_work_folders_are_written_out(tmp_path):
    from experiments.lab.device_import import relabel

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "config.json").write_text('{"command": "run --out /tmp/slice/x"}')
    (tmp_path / "README.md").write_text("ran in /tmp/r/ and /tmp/slice")
    (tmp_path / "runs.bin").write_bytes(b"/tmp/slice")  # not a text result: left alone
    assert relabel(tmp_path, ["/tmp/slice", "/tmp/r/"]) == 2
    assert (tmp_path / "a" / "config.json").read_text() == '{"command": "run --out OUT/x"}'
    assert (tmp_path / "README.md").read_text() == "ran in OUT/ and OUT"
    assert (tmp_path / "runs.bin").read_bytes() == b"/tmp/slice"


def test_a_driver_that_recorded_cpu_gets_the_device_its_workers_ran_on():
    from experiments.lab.device_import import set_device

    data = {
        "provenance": {"git_commit": SNAPSHOT, "git_dirty": True, "device": "cpu (1 torch threads)"}
    }
    untouched = {"provenance": {"git_commit": SENT, "git_dirty": False, "device": "cpu"}}
    reattribute(data, SNAPSHOT, SENT)
    assert set_device(data, SENT, "cuda (NVIDIA H200)") == 1
    assert data["provenance"]["device"] == "cuda (NVIDIA H200)"
    assert data["provenance"]["device_checkout"]["recorded_device"] == "cpu (1 torch threads)"
    assert set_device(untouched, SENT, "cuda (NVIDIA H200)") == 0  # not a re-attributed block
