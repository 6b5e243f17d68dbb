"""Crossover widths of a constant Adam epsilon (abcparam.engine.epsilon)."""

import math

import pytest

import abcparam
from abcparam.engine.epsilon import crossover_width, crossovers


def test_crossover_width_solves_grad_rms_equals_eps():
    # grad RMS 1e-5 at n0 = 256 falling as n^-1 reaches 1e-8 at 256 * 1e3
    width = crossover_width(1, 1e-5, 1e-8, 256)
    assert width == pytest.approx(256e3)
    assert 1e-5 * (width / 256) ** -1 == pytest.approx(1e-8)
    # a slower fall (g = 1/2) pushes it out quadratically
    assert crossover_width(0.5, 1e-5, 1e-8, 256) == pytest.approx(256 * 1e6)


def test_no_crossover_when_gradient_does_not_shrink():
    assert math.isinf(crossover_width(0, 1e-3, 1e-8, 256))
    assert math.isinf(crossover_width(-0.5, 1e-3, 1e-8, 256))


def test_scaled_eps_never_crosses_over():
    r = abcparam.rules("mup", optimizer="adam")
    rows = crossovers(r, 1e-8, 256, 1e-4, scaled=True)
    assert all(math.isinf(x.width) for x in rows)
    unscaled = {x.kind: x.width for x in crossovers(r, 1e-8, 256, 1e-4)}
    assert unscaled["hidden"] == pytest.approx(256 * 1e4)  # g = 1
    assert unscaled["readout"] == pytest.approx(256 * 1e8)  # g = 1/2


def test_atan2_and_sgd_have_nothing_to_cross():
    with pytest.raises(ValueError, match="no epsilon"):
        crossovers(abcparam.rules("mup", optimizer="adam-atan2"), 1e-8, 256, 1e-4)
    with pytest.raises(ValueError, match="SGD has no epsilon"):
        crossovers(abcparam.rules("mup", optimizer="sgd"), 1e-8, 256, 1e-4)


def test_bad_numbers_are_named():
    with pytest.raises(ValueError, match="grad_rms_base = -1.0; accepted: a finite number > 0"):
        crossover_width(1, -1.0, 1e-8, 256)
