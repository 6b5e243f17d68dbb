"""Properties the derivation must have: the abc-symmetry, alignment limits, exactness, errors."""

from fractions import Fraction

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import abcparam
from abcparam.engine.front import is_pareto_minimal

CORE = ("embedding", "hidden", "readout")
Q = sympy.Rational
quarters = st.integers(-8, 8).map(lambda i: Q(i, 4))
in_range = st.integers(2, 4).map(lambda i: Q(i, 4))  # 1/2, 3/4, 1
alignments = st.one_of(
    st.sampled_from(["full", "none", "tp4"]),
    in_range,
    st.fixed_dictionaries(
        {"alpha": in_range, "omega": st.fixed_dictionaries({"readout": in_range}), "u": in_range}
    ),
)


@st.composite
def stable_ab(draw):
    a = {k: draw(quarters) for k in CORE}
    s_out = draw(st.integers(2, 6).map(lambda i: Q(i, 4)))
    b = {
        "embedding": -a["embedding"],
        "hidden": Q(1, 2) - a["hidden"],
        "readout": s_out - a["readout"],
    }
    return a, b


@settings(max_examples=150, deadline=None)
@given(
    ab=stable_ab(),
    theta=st.fixed_dictionaries({k: quarters for k in CORE}),
    optimizer=st.sampled_from(["sgd", "adam", "adafactor", "adam-atan2"]),
    alignment=alignments,
)
def test_abc_symmetry_shifts_c_by_k_theta(ab, theta, optimizer, alignment):
    """(a, b, c) -> (a + t, b - t, c - k t) leaves the dynamics unchanged (TP-V Lemma
    J.1): k = 2 SGD, 1 Adam / Adam-atan2, 0 Adafactor; eps shifts by +t; r is unchanged."""
    a, b = ab
    first = abcparam.derive(a, b, optimizer=optimizer, alignment=alignment)
    second = abcparam.derive(
        {k: a[k] + theta[k] for k in CORE},
        {k: b[k] - theta[k] for k in CORE},
        optimizer=optimizer,
        alignment=alignment,
    )
    k = {"sgd": 2, "adam": 1, "adam-atan2": 1, "adafactor": 0}[optimizer]
    for kind in CORE:
        assert second[kind].c == sympy.expand(first[kind].c - k * theta[kind])
        assert second[kind].r == first[kind].r
        if first[kind].eps is not None:
            assert second[kind].eps == first[kind].eps + theta[kind]
    assert abcparam.equivalent(first, second)
    assert abcparam.equivalent(first, abcparam.reparametrize(first, theta=theta))


@settings(max_examples=60, deadline=None)
@given(
    ab=stable_ab(), optimizer=st.sampled_from(["sgd", "adam", "adafactor"]), alignment=alignments
)
def test_any_stable_ab_gets_a_stable_pareto_minimal_c(ab, optimizer, alignment):
    a, b = ab
    r = abcparam.derive(a, b, optimizer=optimizer, alignment=alignment)
    assert all(x >= 0 for x in r.r_chain)
    assert is_pareto_minimal(r)


def test_equivalent_rejects_a_changed_learning_rate():
    mup = abcparam.rules("mup", optimizer="adam")
    assert not abcparam.equivalent(mup, mup.with_c({"hidden": "1/2"}))
    assert not abcparam.equivalent(mup, abcparam.rules("mup", optimizer="sgd"))
    assert not abcparam.equivalent(mup, abcparam.rules("sp", optimizer="adam"))


@pytest.mark.parametrize("scheme", ["sp", "ntp", "mup", "mfp", "u-mup"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adafactor"])
def test_symbolic_alignment_interpolates_full_and_none(scheme, optimizer):
    """A symbol x means alpha = u = x (omega = 1/2): the result at x = 1 / x = 1/2 is the
    'full' / 'none' table, and the symbolic c is exact (no floats)."""
    x = sympy.Symbol("x")
    sym = abcparam.rules(scheme, optimizer=optimizer, alignment=x)
    full = abcparam.rules(scheme, optimizer=optimizer, alignment="full")
    none = abcparam.rules(scheme, optimizer=optimizer, alignment="none")
    for kind in CORE:
        assert not sym[kind].c.atoms(sympy.Float)
        assert sym[kind].c.subs(x, 1) == full[kind].c
        assert sym[kind].c.subs(x, Q(1, 2)) == none[kind].c
    assert any(sym[kind].c.has(x) for kind in CORE)


def test_symbolic_adam_sp_is_alpha():
    x = sympy.Symbol("alpha")
    r = abcparam.rules("sp", optimizer="adam", alignment=x)
    assert (r["hidden"].c, r["readout"].c) == (x, x)


def test_per_variable_alignment_symbols_give_piecewise_max():
    a, u = sympy.symbols("a u")
    r = abcparam.rules("mup", optimizer="adam", alignment={"alpha": a, "u": u})
    assert r["hidden"].c == sympy.Max(a, u)
    assert r["hidden"].r == 0


def test_hidden_omega_above_half_cannot_keep_every_layer_maximal():
    """With omega > 1/2 in hidden layers no choice of LR keeps every layer maximally
    updated; the engine keeps the logits nontrivial and slows the layers below."""
    r = abcparam.rules("mup", optimizer="adam", alignment={"omega": {"hidden": "3/4"}})
    assert r["readout"].r == 0
    assert r["embedding"].r > 0
    with pytest.raises(ValueError, match="feature-learning cannot hold"):
        abcparam.rules(
            "mup",
            optimizer="adam",
            alignment={"omega": {"hidden": "3/4"}},
            require="feature-learning",
        )


def test_mup_adafactor_none_has_trivial_logits_and_says_why():
    r = abcparam.rules("mup", optimizer="adafactor", alignment="none")
    assert r["readout"].r == Q(1, 2)
    assert "trivial logits" in r.regime
    assert "bound c >= 0" in r["readout"].why["r"]
    with pytest.raises(ValueError, match="nontrivial cannot hold.*readout"):
        abcparam.rules("mup", optimizer="adafactor", alignment="none", require="nontrivial")


def test_sp_with_width_independent_lr_blows_up():
    r = abcparam.rules("sp", optimizer="adam").with_c(0)
    assert r["hidden"].r < 0 and r.regime.startswith("unstable")
    assert "blow up" in r["hidden"].why["r"]


def test_every_exponent_explains_itself():
    r = abcparam.rules("mup", optimizer="sgd", alignment="none")
    for kind in r.kinds:
        assert set(r[kind].why) == {"a", "b", "c", "eps", "wd", "r"}
    assert "alpha = 1/2" in r["hidden"].why["c"] or "u = 1/2" in r["hidden"].why["c"]
    assert "G = " in r["hidden"].why["c"]


def test_rendering_is_exact_strings():
    r = abcparam.rules("u-mup", optimizer="adam")
    d = r.to_dict()
    assert d["layers"]["embedding"]["c"] == "1/2" and d["layers"]["hidden"]["eps"] == "3/2"
    md = r.to_markdown()
    assert "| hidden | 1/2 | 0 | 1/2 | 3/2 | — | 0 |" in md
    assert r"\frac{1}{2}" in r.to_latex()


def test_aliases():
    assert abcparam.rules("ntk") is abcparam.rules("ntp")
    assert abcparam.rules("μp", optimizer="ADAM") is abcparam.rules("mup", optimizer="adam")
    r = abcparam.rules("umup")
    assert r["input"] is r["embedding"] and r["output"] is r["readout"]


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: abcparam.rules("nope"),
            "unknown scheme 'nope'; accepted: sp, ntp, mfp, mup, u-mup",
        ),
        (
            lambda: abcparam.rules("mup", optimizer="rmsprop"),
            "unknown optimizer 'rmsprop'; accepted: sgd, adam, adamw",
        ),
        (lambda: abcparam.rules("mup")["attention"], "unknown layer kind 'attention'; accepted"),
        (
            lambda: abcparam.rules("mup", alignment=Q(1, 4)),
            r"1/4 lies outside the accepted range \[1/2, 1\]",
        ),
        (lambda: abcparam.rules("mup", alignment="3/2"), "outside the accepted range"),
        (lambda: abcparam.rules("mup", alignment=0.75), "float"),
        (lambda: abcparam.rules("mup", alignment={"beta": 1}), "unknown alignment variable 'beta'"),
        (lambda: abcparam.rules("mup", alignment="partial"), "unknown alignment 'partial'"),
        (
            lambda: abcparam.derive(
                a={"embedding": 0, "hidden": 0.5, "readout": 0},
                b={"embedding": 0, "hidden": 0, "readout": 0},
            ),
            "hidden a = 0.5 is a float",
        ),
        (
            lambda: abcparam.derive(
                a={"embedding": 0, "hidden": 0, "readout": 0},
                b={"embedding": 0, "hidden": 0, "readout": "1/2"},
            ),
            r"hidden a \+ b = 0, but stability at init needs a \+ b = 1/2",
        ),
        (
            lambda: abcparam.derive(
                a={"embedding": 0, "hidden": 0, "readout": 0},
                b={"embedding": 0, "hidden": "1/2", "readout": "1/4"},
            ),
            r"readout a \+ b = 1/4, but stability at init needs a \+ b >= 1/2",
        ),
        (
            lambda: abcparam.derive(
                a={"embedding": 0, "hidden": 0}, b={"embedding": 0, "hidden": "1/2"}
            ),
            "missing layer kinds",
        ),
        (
            lambda: abcparam.derive(
                a={"embedding": "x1", "hidden": 0, "readout": 0},
                b={"embedding": 0, "hidden": 0, "readout": 0},
            ),
            "not an exact number",
        ),
        (
            lambda: abcparam.rules("mup", lr="sometimes"),
            "lr = 'sometimes'; accepted: per-layer, shared",
        ),
    ],
)
def test_bad_input_names_the_value_and_the_accepted_ones(call, message):
    with pytest.raises((ValueError, TypeError, KeyError), match=message):
        call()


def test_fraction_and_string_exponents_are_exact():
    r1 = abcparam.derive(
        a={"embedding": 0, "hidden": Fraction(1, 2), "readout": "1/2"},
        b={"embedding": 0, "hidden": 0, "readout": 0},
        optimizer="adam",
    )
    assert r1["hidden"].c == abcparam.rules("ntp", optimizer="adam")["hidden"].c
