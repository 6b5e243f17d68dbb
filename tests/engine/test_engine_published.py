"""The engine reproduces every published table cell from the constraints (abcparam.published)."""

import pytest
import sympy

import abcparam
from abcparam.engine.front import is_pareto_minimal
from abcparam.published import (
    EVERETT_AB,
    EVERETT_EPS,
    EVERETT_SGD_NONE_FRONT,
    EVERETT_TABLE1_C,
    TP4_TABLE1,
    TPV_TABLE3,
    TPV_TABLE8,
    TPV_TABLE9_ADAM,
    UMUP,
)

CORE = ("embedding", "hidden", "readout")
Q = sympy.Rational


def triple(rules, name):
    return tuple(getattr(rules[k], name) for k in CORE)


def exact(values):
    return tuple(Q(v) for v in values)


@pytest.mark.parametrize("key", sorted(EVERETT_TABLE1_C))
def test_lr_exponents_match_everett_table1(key):
    """Everett et al. 2024, Table 1: every cell (SP/NTK/muP/MFP x SGD/Adam/Adafactor x full/none)."""
    scheme, optimizer, alignment = key
    r = abcparam.rules(scheme, optimizer=optimizer, alignment=alignment)
    assert triple(r, "c") == exact(EVERETT_TABLE1_C[key])


@pytest.mark.parametrize("key", sorted(k for k in EVERETT_TABLE1_C if k[1] == "adam"))
def test_adam_atan2_has_adams_exponents(key):
    """Everett et al. 2024, App. Adam-atan2: same exponents as Adam, and no epsilon."""
    scheme, optimizer, alignment = key
    r = abcparam.rules(scheme, optimizer="adam-atan2", alignment=alignment)
    assert triple(r, "c") == exact(EVERETT_TABLE1_C[key])
    assert all(r[k].eps is None for k in r.kinds)
    assert "no epsilon" in r["hidden"].why["eps"]


@pytest.mark.parametrize("scheme", sorted(EVERETT_SGD_NONE_FRONT))
def test_sgd_no_alignment_front_and_choice(scheme):
    """Everett et al. 2024, SGD / none for muP and MFP: a front of equally maximal choices; the
    engine returns the end where every layer is maximally updated (book page "Conventions")."""
    first, second = EVERETT_SGD_NONE_FRONT[scheme]
    r = abcparam.rules(scheme, optimizer="sgd", alignment="none")
    assert triple(r, "c") == exact(second)
    assert all(r[k].r == 0 for k in r.kinds)
    front = {tuple(p[k] for k in CORE) for p in r.front}
    assert front == {exact(first), exact(second)}
    # the third-party copy's end leaves the logits trivial
    printed = r.with_c(dict(zip(CORE, exact(first))))
    assert printed["readout"].r == Q(1, 2)
    assert "trivial logits" in printed.regime


@pytest.mark.parametrize("scheme", sorted(EVERETT_AB))
def test_presets_define_everett_a_b(scheme):
    r = abcparam.rules(scheme)
    for kind, (a, b) in zip(CORE, EVERETT_AB[scheme]):
        assert (r[kind].a, r[kind].b) == (Q(a), Q(b))


@pytest.mark.parametrize("scheme", sorted(EVERETT_EPS))
@pytest.mark.parametrize("optimizer", ["adam", "adafactor"])
def test_epsilon_exponents_match_everett_gradient_exponents(scheme, optimizer):
    """Everett et al. 2024, per-layer epsilon: eps ~ gradient RMS at init."""
    r = abcparam.rules(scheme, optimizer=optimizer)
    assert triple(r, "eps") == exact(EVERETT_EPS[scheme])


def test_sgd_has_no_epsilon():
    r = abcparam.rules("mup", optimizer="sgd")
    assert r["hidden"].eps is None


@pytest.mark.parametrize("scheme", sorted(TP4_TABLE1))
def test_global_sgd_lr_matches_tp4_table1(scheme):
    """TP-IV Table 1: one SGD learning rate for all layers; c and r (TP-IV's r = min over l < L+1)."""
    c, r_value = TP4_TABLE1[scheme]
    r = abcparam.rules(scheme, optimizer="sgd", alignment="tp4", lr="shared")
    assert r["hidden"].c == Q(c)
    assert min(r.r_chain[:-1]) == Q(r_value)
    assert r["readout"].r == 0  # nontrivial (TP-IV Thm 3.4: equality in one condition)


def test_pytorch_sp_default_is_unstable_per_tp4():
    """TP-IV Sec. 3: PyTorch's SP with c = 0 is unstable (r = -1 in TP-IV's one-hidden-layer r)."""
    r = abcparam.rules("sp", optimizer="sgd", alignment="tp4", hidden_layers=1).with_c(0)
    assert r.r_chain[1] == -1
    assert r.regime.startswith("unstable")


def test_tp4_feature_learning_classification():
    """TP-IV Thm 3.6: muP (r = 0) learns features; SP at its largest stable LR is kernel-like."""
    assert abcparam.rules("mup", optimizer="sgd", alignment="tp4", lr="shared").regime.startswith(
        "feature learning"
    )
    assert (
        "kernel-like" in abcparam.rules("sp", optimizer="sgd", alignment="tp4", lr="shared").regime
    )


@pytest.mark.parametrize("table", [TPV_TABLE3, TPV_TABLE8], ids=["table3", "table8"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_tpv_fan_in_tables_are_mup_in_other_coordinates(table, optimizer):
    """TP-V Tables 3 and 8 (no / output-only multipliers) are Everett's muP after the symmetry."""
    mup = abcparam.rules("mup", optimizer=optimizer)
    moved = abcparam.reparametrize(mup, a=dict(zip(CORE, exact(table["a"]))))
    assert triple(moved, "b") == exact(table["b"])
    assert triple(moved, "c") == exact(table[optimizer])
    assert abcparam.equivalent(mup, moved)
    derived = abcparam.derive(
        a=dict(zip(CORE, table["a"])), b=dict(zip(CORE, table["b"])), optimizer=optimizer
    )
    assert triple(derived, "c") == exact(table[optimizer])


def test_tpv_table9_is_tp4_mup_for_adam():
    assert triple(abcparam.rules("mup", optimizer="adam"), "c") == exact(TPV_TABLE9_ADAM)


def test_umup_adam_rules_match_blake_et_al():
    """u-muP (Blake et al. 2024; authors' slides): a, b and the Adam LRs; the embedding LR is the
    named empirical convention, not maximal update (r_embedding = 1/2)."""
    r = abcparam.rules("u-mup", optimizer="adam")
    assert triple(r, "a") == exact(UMUP["a"]) and triple(r, "b") == exact(UMUP["b"])
    assert triple(r, "c") == exact(UMUP["adam"])
    assert r["embedding"].r == Q(1, 2)
    assert "empirical" in r["embedding"].why["c"]
    # without the convention the engine derives maximal update: MFP's table
    derived = abcparam.rules("u-mup", optimizer="adam", conventions=False)
    assert triple(derived, "c") == exact(EVERETT_TABLE1_C[("mfp", "adam", "full")])
    # hidden and readout are muP after the symmetry
    mup = abcparam.rules("mup", optimizer="adam")
    moved = abcparam.reparametrize(mup, a={"embedding": 0, "hidden": "1/2", "readout": 1})
    assert (moved["hidden"].c, moved["readout"].c) == (r["hidden"].c, r["readout"].c)


def test_umup_bias_and_norm_follow_unit_scaling_library():
    """unit-scaling's Adam LR scale for bias/norm is 1 (optim.lr_scale_func_adam): c = 0."""
    r = abcparam.rules("u-mup", optimizer="adam")
    assert r["bias"].c == 0 and r["norm"].c == 0


def test_attention_logit_scale():
    """TP-V Def. 4.1: muP uses 1/d; SP keeps its 1/sqrt(d) convention; no alignment gives 1/2."""
    assert abcparam.rules("mup").attention_logit_exponent == 1
    assert abcparam.rules("u-mup").attention_logit_exponent == 1
    assert abcparam.rules("sp").attention_logit_exponent == Q(1, 2)
    assert abcparam.rules("mup", alignment="none").attention_logit_exponent == Q(1, 2)


@pytest.mark.parametrize("scheme", ["sp", "ntp", "mup", "mfp", "u-mup"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adafactor"])
@pytest.mark.parametrize("alignment", ["full", "none", "tp4"])
def test_derived_c_is_pareto_minimal(scheme, optimizer, alignment):
    """The derived c is stable and no layer's LR can grow without another's shrinking."""
    r = abcparam.rules(scheme, optimizer=optimizer, alignment=alignment)
    assert is_pareto_minimal(r)
    assert all(sympy.sympify(x) >= 0 for x in r.r_chain)


@pytest.mark.parametrize(
    "coordinates, table", [("no-multipliers", TPV_TABLE3), ("readout-multiplier", TPV_TABLE8)]
)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_named_coordinates_give_tpv_tables(coordinates, table, optimizer):
    """TP-V Table 3 / Table 8 as named coordinate systems of the same muP."""
    moved = abcparam.reparametrize(
        abcparam.rules("mup", optimizer=optimizer), coordinates=coordinates
    )
    assert triple(moved, "a") == exact(table["a"])
    assert triple(moved, "c") == exact(table[optimizer])


def test_unit_scaled_mup_differs_from_umup_only_in_the_embedding_convention():
    """Blake et al. 2024: u-muP's hidden/readout rules are muP in unit-scaled coordinates; its
    embedding LR 1/sqrt(fan-out) is the empirical departure (derived muP would give c = 0)."""
    moved = abcparam.reparametrize(
        abcparam.rules("mup", optimizer="adam"), coordinates="unit-scaled"
    )
    umup = abcparam.rules("u-mup", optimizer="adam")
    assert triple(moved, "a") == triple(umup, "a") and triple(moved, "b") == triple(umup, "b")
    assert (moved["hidden"].c, moved["readout"].c) == (umup["hidden"].c, umup["readout"].c)
    assert (moved["embedding"].c, umup["embedding"].c) == (0, Q(1, 2))
