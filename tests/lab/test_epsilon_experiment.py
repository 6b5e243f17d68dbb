"""Fast CPU version of experiments.lab.epsilon_underflow (Everett et al. 2024, Adam eps)."""

import math

import pytest

import abcparam
from abcparam.torch.gradient_rms import base_gradient_rms
from experiments.lab import epsilon_underflow as experiment


@pytest.fixture(scope="module")
def result():
    return experiment.run(
        "mlp", widths=(64, 128, 256, 512), seeds=1, crossover_target=160, progress=False
    )


def test_gradient_rms_falls_with_the_predicted_exponent(result):
    hidden = result["layers"]["hidden"]
    assert hidden["predicted_gradient_exponent"] == "1"
    assert abs(hidden["measured_gradient_slope"] + 1) < 0.15


def test_constant_eps_underflows_near_the_predicted_width(result):
    hidden = result["layers"]["hidden"]
    assert hidden["measured_crossover_width"] is not None
    ratio = hidden["measured_crossover_width"] / hidden["predicted_crossover_width"]
    assert 0.5 < ratio < 2, hidden
    assert hidden["update_slope_constant"] < hidden["predicted_update_slope"] - 0.3


def test_scaled_eps_and_atan2_keep_the_predicted_update_slope(result):
    for kind in ("embedding", "hidden", "readout"):
        row = result["layers"][kind]
        assert abs(row["update_slope_scaled"] - row["predicted_update_slope"]) < 0.15, kind
        assert abs(row["update_slope_atan2"] - row["predicted_update_slope"]) < 0.15, kind


def test_base_gradient_rms_is_positive_per_kind():
    rms = base_gradient_rms(abcparam.rules("mup"), model="mlp", base_width=128)
    assert set(rms) == {"embedding", "hidden", "readout"}
    assert all(v > 0 and math.isfinite(v) for v in rms.values())
