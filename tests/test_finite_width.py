"""The finite-width blend of a layer's three change terms (abcparam/coordcheck/finite_width.py)."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import abcparam
from abcparam.coordcheck.finite_width import blended_slope
from abcparam.engine.predict import predict_slopes

WIDTHS = (128, 256, 512, 1024, 2048)
exponent = st.floats(-2, 2, allow_nan=False)
size = st.floats(1e-4, 1e4, allow_nan=False)


@given(exponent, size)
def test_one_term_gives_its_own_exponent(e, c):
    assert blended_slope({"alpha": e}, {"alpha": c}, WIDTHS) == pytest.approx(e, abs=1e-9)


@settings(max_examples=200)
@given(
    st.dictionaries(st.sampled_from(["alpha", "omega", "u"]), st.tuples(exponent, size), min_size=1)
)
def test_the_blend_lies_between_the_smallest_and_largest_exponent(terms):
    slope = blended_slope(
        {t: e for t, (e, _) in terms.items()}, {t: c for t, (_, c) in terms.items()}, WIDTHS
    )
    lo, hi = min(e for e, _ in terms.values()), max(e for e, _ in terms.values())
    assert lo - 1e-9 <= slope <= hi + 1e-9


def test_a_small_fast_term_is_not_yet_dominant_but_a_large_one_is():
    """The SP-global SGD case: dW.dx grows fastest but starts 10x smaller than dW.x0."""
    small = blended_slope({"alpha": 0.5, "u": 0.75}, {"alpha": 0.15, "u": 0.015}, WIDTHS)
    large = blended_slope({"alpha": 0.5, "u": 0.75}, {"alpha": 0.15, "u": 1.5}, WIDTHS)
    assert 0.5 < small < 0.55 and 0.72 < large <= 0.75


def test_unusable_sizes_are_left_out():
    assert blended_slope(
        {"alpha": 1.0, "omega": 0.0}, {"alpha": 1.0, "omega": float("nan")}, WIDTHS
    ) == pytest.approx(1.0)
    assert math.isnan(blended_slope({"alpha": 1.0}, {}, WIDTHS))


@pytest.mark.parametrize("scheme", ["sp", "ntp", "mfp", "mup", "u-mup"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_the_largest_term_is_the_recursions_r(scheme, optimizer):
    """predict_slopes' per-term exponents reproduce the engine's r (THEORY.md recursion)."""
    rules = abcparam.rules(scheme, optimizer=optimizer)
    for p in predict_slopes(rules, ["embedding", "hidden", "hidden", "readout"])[1:]:
        assert max(p["terms"].values()) == p["delta"] == -p["r"]
