"""FP8 training gaps over seeds: paired gaps to fp32, their mean and Student-t interval."""

import json

import numpy as np
import pytest
from scipy import stats

from experiments.lab import precision_training


def test_gap_interval_over_seeds(tmp_path):
    args = ["--quick", "--seeds", "2", "--variants", "fp32,fp8", "--out", str(tmp_path)]
    assert precision_training.main(args) == 0
    data = json.loads((tmp_path / "training.json").read_text())
    ref = {r["seed"]: r["val_loss"] for r in data["runs"] if r["variant"] == "fp32"}
    fp8 = {r["seed"]: r["val_loss"] for r in data["runs"] if r["variant"] == "fp8"}
    gaps = np.array([fp8[s] - ref[s] for s in sorted(ref)])
    (row,) = data["gaps"]
    assert row["seeds"] == 2 and row["variant"] == "fp8"
    assert row["mean"] == pytest.approx(gaps.mean(), abs=1e-12)
    lo, hi = stats.t.interval(0.95, 1, loc=gaps.mean(), scale=stats.sem(gaps))
    assert row["interval"] == pytest.approx([lo, hi], abs=1e-12)
    assert f"{gaps.mean():+.3f} [" in data["table"]


def test_unknown_scheme_is_refused():
    with pytest.raises(ValueError, match="accepted"):
        precision_training.main(["--schemes", "mup,xp"])
