"""The epsilon crossover is defined once, for the prediction and the measurement (issue 28)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from abcparam.engine.epsilon import crossing, crossover_width, step_fraction

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("g,base_rms", [(1.0, 8e-3), (0.5, 9.3e-4), (0.5, 2e-2)])
def test_the_measured_criterion_on_a_power_law_is_the_predicted_one(g, base_rms):
    eps = 3.4e-4
    widths = [64 * 2**i for i in range(12)]
    grads = [base_rms * (w / 64) ** -g for w in widths]
    predicted = crossover_width(g, base_rms, eps, 64)
    measured = crossing(widths, grads, eps)
    if predicted > widths[-1]:
        assert measured is None
    else:
        assert measured == pytest.approx(predicted, rel=1e-9)


def test_crossing_edges():
    assert crossing([64, 128], [1e-3, 5e-4], 1e-4) is None
    assert crossing([64, 128], [1e-5, 5e-6], 1e-4) == 64
    with pytest.raises(ValueError, match="positive"):
        crossing([64, 128], [0.0, 1.0], 1e-4)


def test_at_the_crossover_the_first_adam_step_keeps_half():
    assert step_fraction(3e-4, 3e-4) == 0.5
    assert step_fraction(1.0, 0.0) == 1.0


def test_saved_gpt_embedding_is_judged_by_the_same_criterion():
    """The GPT token embedding: predicted 471, and its measured gradient RMS reaches eps inside
    the measured widths (it was "never seen" under the old update-ratio criterion); the update
    ratio follows the first step's formula from the measured gradient."""
    saved = json.loads(
        (ROOT / "experiments/results/epsilon_cpu/transformer/results.json").read_text()
    )
    row = saved["layers"]["embedding"]
    widths, eps = saved["config"]["widths"], saved["config"]["eps"]
    assert row["measured_crossover_width"] == pytest.approx(crossing(widths, row["grad_rms"], eps))
    assert 0.5 < row["measured_crossover_width"] / row["predicted_crossover_width"] < 2
    for got, want in zip(row["update_ratio_measured"], row["update_ratio_predicted"]):
        assert abs(got - want) < 0.06
    assert math.isfinite(row["predicted_crossover_width"])
