"""Linear decay to zero beside warmup-stable-decay, and the critical batch size from
steps-to-target (McCandlish et al. 2018's S = S_min (1 + B_crit/B))."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from abcparam.transfer.critical_batch import (
    critical_batch,
    critical_markdown,
    fit_critical,
    steps_to,
)
from abcparam.transfer.horizon import decay_start, lr_factor
from experiments.lab.horizon_grid import schedule_runs


def test_linear_decay_starts_when_warmup_ends_and_reaches_zero():
    runs = schedule_runs([125, 500], warmup=20, schedule="linear", decay_fraction=0.1)
    assert [h for h, _ in runs] == [(125,), (500,)]
    for (horizon,), fraction in runs:
        assert decay_start(horizon, fraction) == 20
        factors = [lr_factor(s, 20, horizon, fraction) for s in range(horizon)]
        assert factors[19] == pytest.approx(1.0)
        assert factors[-1] == pytest.approx(1 / (horizon - 19))
        steps = np.diff(factors[20:])
        assert np.allclose(steps, steps[0])  # linear
    assert schedule_runs([125, 500], 20, "wsd", 0.1) == [((125, 500), 0.1)]
    with pytest.raises(ValueError, match="accepted: wsd, linear"):
        schedule_runs([125], 20, "cosine", 0.1)


def test_linear_schedule_end_to_end(tmp_path):
    from experiments.lab.horizon_grid import main

    argv = ["--quick", "--schedule", "linear", "--seeds", "1", "--workers", "1", "--batches", "2"]
    argv += ["--lrs=-7:-6:1"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    rows = [json.loads(x) for x in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert {tuple(r["horizons"]) for r in rows} == {(8,), (16,)}
    assert all(len(r["results"]) == 1 for r in rows)


def _curve_rows(b_crit: float, s_min: float) -> list[dict]:
    """Loss curves ℓ(t) = 3 − log(t·B/(B + b_crit)), so the steps to ℓ follow the model."""
    rows = []
    for batch in (4, 8, 16, 32):
        for seed in range(3):
            steps = np.arange(1, 2000)
            effective = steps / (1 + b_crit / batch)
            loss = 3 - np.log(effective / s_min) + 0.001 * seed
            rows.append(
                {
                    "width": 32,
                    "batch": batch,
                    "log2_lr": -6.0,
                    "seed": seed,
                    "stable_curve": [[int(t), float(x)] for t, x in zip(steps, loss, strict=True)],
                }
            )
    return rows


def test_critical_batch_is_recovered():
    result = critical_batch(_curve_rows(b_crit=10.0, s_min=5.0), [2.0, 1.0], bootstrap=20)
    for entry in result["32"]["targets"]:
        assert entry["fit"]["b_crit"] == pytest.approx(10.0, rel=0.02)
    # here B_crit does not move with the target: slope 0
    assert result["32"]["slope"]["slope"] == pytest.approx(0.0, abs=0.05)


def test_fastest_lr_and_window_edges_are_reported():
    rows = []
    for row in _curve_rows(b_crit=10.0, s_min=5.0):
        for lr, offset in ((-7.0, 0.2), (-6.0, 0.0), (-5.0, 0.1 if row["batch"] != 4 else -0.1)):
            curve = [[t, x + offset] for t, x in row["stable_curve"]]
            rows.append({**row, "log2_lr": lr, "stable_curve": curve})
    result = critical_batch(rows, [2.0], bootstrap=5)
    entry = result["32"]["targets"][0]
    # batch 4 is fastest at the window's top LR, the others at its middle LR
    assert entry["fastest_log2_lr"] == {"4": -5.0, "8": -6.0, "16": -6.0, "32": -6.0}
    assert entry["lr_edge"] == {"4": "upper"}
    table = critical_markdown(result)
    assert re.search(r"\| 4: \d+\*, 8: \d+, ", table)  # batch 4's cell is the starred one
    assert "* the fastest LR is the edge" in table
    assert table.count("*") == 2  # the starred cell and its footnote


def test_steps_to_and_degenerate_fits():
    assert steps_to(np.array([10, 20, 30]), np.array([3.0, 2.0, 1.0]), 1.5) == pytest.approx(25)
    assert steps_to(np.array([10, 20]), np.array([3.0, 2.0]), 1.0) == float("inf")
    assert fit_critical({4: 100.0, 8: 50.0}) is None  # two batches cannot fit two numbers
    assert fit_critical({4: 50.0, 8: 100.0, 16: 200.0}) is None  # steps rise with B: no fit


def test_sensitivity_falls_when_the_curve_flattens():
    from abcparam.transfer.horizon_sensitivity import sensitivity_summary

    rows = []
    for seed in range(3):
        for lr in (-8.0, -7.0, -6.0):
            # the LR curve's curvature halves with each doubling of the horizon
            results = {
                str(t): {"val_loss": 2 + (lr + 7) ** 2 * 125 / t + 0.01 * seed, "diverged": False}
                for t in (125, 250, 500)
            }
            rows.append(
                {
                    "width": 32,
                    "batch": 4,
                    "log2_lr": lr,
                    "seed": seed,
                    "initial_loss": 5.0,
                    "results": results,
                }
            )
    summary = sensitivity_summary(rows, {4: [-8.0, -7.0, -6.0]}, bootstrap=50)
    means = [c["mean"] for c in summary["cells"]]
    assert means == pytest.approx([2 / 3, 1 / 3, 1 / 6])
    assert summary["slopes_in_horizon"][0]["slope"] < 0
    # a seed missing one LR of the window is left out, not compared on a shorter range
    short = [r for r in rows if not (r["seed"] == 2 and r["log2_lr"] == -6.0)]
    assert {c["seeds"] for c in sensitivity_summary(short, {4: [-8.0, -7.0, -6.0]})["cells"]} == {2}
    # a one-LR window (an LR run beside an earlier window) has no curve: it is left out, not an error
    one = [r for r in rows if r["log2_lr"] == -6.0]
    assert sensitivity_summary(one, {4: [-6.0]}, bootstrap=10)["cells"] == []
