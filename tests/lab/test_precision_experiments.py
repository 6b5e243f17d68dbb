"""Tiny CPU versions of the low-precision experiments (ranges and simulated FP8 / bf16 training)."""

import json
import math

import pytest

from abcparam.torch.precision import histogram_fraction
from experiments.lab import precision_ranges, precision_training


def test_ranges_quick(tmp_path):
    assert precision_ranges.main(["--quick", "--out", str(tmp_path), "--steps", "2"]) == 0
    data = json.loads((tmp_path / "ranges_mlp.json").read_text())
    assert "provenance" in data and data["config"]["formats"]["gradient"] == "e5m2"
    rows = data["rows"]
    assert {r["model"] for r in rows} == {"mlp"}
    assert (tmp_path / "ranges_transformer.json").exists()
    base = data["config"]["base_width"]
    for r in rows:
        if r["width"] == base:  # the prediction starts from the base width's own measurement
            assert r["rms_predicted"] == pytest.approx(r["rms_measured"])
    # weights at init are set by the init: their RMS follows the engine's exponent closely
    for r in rows:
        if r["role"] == "weight" and r["phase"] == "init" and r["width"] != base:
            assert r["rms_measured"] == pytest.approx(r["rms_predicted"], rel=0.15), r
    assert (tmp_path / "ranges_mlp.md").read_text().startswith("| model")
    assert data["worst"]["underflow"] is not None


def test_histogram_fraction():
    import torch

    from abcparam.torch.precision import tensor_stats

    x = torch.randn(100_000, generator=torch.Generator().manual_seed(0)) * 2.0**-6
    s = tensor_stats(x, ["e4m3"], histogram=True)
    got = histogram_fraction(s["log2_hist"], 2.0**-10)
    assert got == pytest.approx(s["e4m3"]["underflow"], abs=0.003)
    assert histogram_fraction(s["log2_hist"], 448.0, below=False) == 0.0
    assert histogram_fraction([0, 0], 1.0) == 0.0


def test_training_quick(tmp_path):
    assert precision_training.main(["--quick", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "training.json").read_text())
    runs = {r["variant"]: r for r in data["runs"]}
    assert set(runs) == {"fp32", "fp8", "bf16", "fp8-scaled"}
    assert all(math.isfinite(r["val_loss"]) for r in runs.values())
    assert runs["fp8"]["val_loss"] != runs["fp32"]["val_loss"]
    assert "| u-mup | fp8 |" in data["table"]
    with pytest.raises(ValueError, match="accepted"):
        precision_training.train("mup", "fp4", 32, 32, 1, 0, 1e-3, 2)
