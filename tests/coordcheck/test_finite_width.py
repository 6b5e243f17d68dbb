"""The finite-width blend of a layer's three change terms (abcparam/coordcheck/finite_width.py)."""

import math

import pytest
import sympy
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


def _brute_force_slopes(rules, kinds, ks, n_small=2.0**40, n_large=2.0**50):
    """The change of every layer's output, evaluated numerically at two huge widths from what
    each product is made of, independently of the engine's recursion code.

    At width n: an entry of W0 has size n^-(a+b), of dW n^-k (k = the update exponent, taken
    from the engine: the update rule is not what is checked here), the inputs z0 are Theta(1).
    A width sum of n products of aligned factors grows by n^alignment: dW·z0 by n^alpha,
    W0·dz by n^omega, dW·dz by n^u.  Elementwise layers only pass changes on.  Returns the
    slope of log|dz| against log n per position (the width exponent of the change).
    """
    slopes = []
    for n in (n_small, n_large):
        logs = []
        for pos, kind in enumerate(kinds):
            log_k = -float(ks[pos]) * math.log(n)
            if pos == 0 or kind == "embedding":  # the embedding's change is its own update
                logs.append(log_k)
                continue
            t = rules.alignment.at(kind)
            a, b = float(rules[kind].a), float(rules[kind].b)
            log_in = logs[pos - 1]
            terms = [
                log_k + float(t.alpha) * math.log(n),  # dW · z0
                -(a + b) * math.log(n) + float(t.omega) * math.log(n) + log_in,  # W0 · dz
                log_k + float(t.u) * math.log(n) + log_in,  # dW · dz
            ]
            top = max(terms)
            logs.append(top + math.log(sum(math.exp(v - top) for v in terms)))
        slopes.append(logs)
    return [(hi - lo) / math.log(n_large / n_small) for lo, hi in zip(*slopes)]


@pytest.mark.parametrize("scheme", ["sp", "ntp", "mfp", "mup", "u-mup"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("alignment", ["full", "none"])
@pytest.mark.parametrize("lr", ["derived", "constant", "smaller"])
def test_predicted_change_matches_a_brute_force_evaluation(scheme, optimizer, alignment, lr):
    """predict_slopes' change exponent (-r) per layer equals a numeric evaluation of the
    products that make up the change, for derived, width-independent (c = 0) and too small
    (c + 1/2) learning rates, so r > 0, r = 0 and r < 0 all occur."""
    rules = abcparam.rules(scheme, optimizer=optimizer, alignment=alignment)
    if lr == "constant":
        rules = rules.with_c(0)
    elif lr == "smaller":
        rules = rules.with_c({k: rules[k].c + sympy.Rational(1, 2) for k in rules.layers})
    kinds = ["embedding", "hidden", "hidden", "readout"]
    predicted = predict_slopes(rules, kinds)
    brute = _brute_force_slopes(rules, kinds, [p["k"] for p in predicted])
    for p, slope in zip(predicted, brute):
        assert float(p["delta"]) == pytest.approx(slope, abs=2e-3), p["name"]
        assert float(p["delta"]) == -float(p["r"])
        if p["terms"] is not None:
            assert max(p["terms"].values()) == p["delta"]


def test_brute_force_sees_all_three_regimes():
    """The comparison above is not vacuous: its cases include growing, constant and vanishing
    changes."""
    seen = set()
    for scheme in ("sp", "mup"):
        base = abcparam.rules(scheme, optimizer="adam")
        for rules in (base, base.with_c(0), base.with_c(1)):
            kinds = ["embedding", "hidden", "hidden", "readout"]
            ks = [p["k"] for p in predict_slopes(rules, kinds)]
            seen |= {(s > 1e-3) - (s < -1e-3) for s in _brute_force_slopes(rules, kinds, ks)}
    assert seen == {-1, 0, 1}
