"""A merge step records the device its parts ran on, not the CPU that merged them."""

import json
import time

from abcparam.records import load_json


def test_muon_lion_merge_keeps_the_checks_device(tmp_path):
    from experiments.lab.muon_lion_coordcheck import _merge

    (tmp_path / "checks").mkdir()
    part = {"v": 1, "provenance": {"git_commit": "a" * 40, "device": "cuda (NVIDIA H200)"}}
    (tmp_path / "checks" / "gpt_lion.json").write_text(json.dumps(part))
    _merge(tmp_path, time.time(), 3, "issue", "cuda")
    assert load_json(tmp_path / "results.json")["provenance"]["device"] == "cuda (NVIDIA H200)"


def test_own_models_merge_keeps_the_rows_device(tmp_path):
    from experiments.lab import own_models

    row = {
        "model": "mha",
        "scheme": "mup",
        "optimizer": "adam",
        "refused": "test row",
        "provenance": {"git_commit": "a" * 40, "device": "cuda (NVIDIA H200)"},
    }
    (tmp_path / "mha_mup_adam").mkdir()
    (tmp_path / "mha_mup_adam" / "row.json").write_text(json.dumps(row))
    args = ["--merge-only", "--out", str(tmp_path), "--models", "mha", "--widths", "64,128"]
    assert own_models.main(args) == 0
    saved = load_json(tmp_path / "summary.json")
    assert saved["provenance"]["device"] == "cuda (NVIDIA H200)"
