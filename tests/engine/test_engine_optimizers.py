"""AdamW and weight decay, Lion / sign, Muon (both views), per-kind plans, read-only results."""

import pickle

import pytest
import sympy

import abcparam
from abcparam.engine.front import is_pareto_minimal
from abcparam.engine.optimizers import OPTIMIZERS, get_optimizer
from abcparam.engine.predict import predict_slopes
from tests import oracles

CORE = ("embedding", "hidden", "readout")
Q = sympy.Rational


def _cells(r, name):
    return tuple(str(getattr(r[k], name)) for k in CORE)


def test_completep_hidden_weight_decay():
    r = abcparam.rules("mup", optimizer="adamw", weight_decay="coupled")
    cell = oracles.COMPLETEP_HIDDEN_ADAMW
    assert (str(r["hidden"].c), str(r["hidden"].wd)) == (cell["c"], cell["wd"])


def test_muadam_in_readout_multiplier_coordinates():
    r = abcparam.reparametrize(
        abcparam.rules("mup", optimizer="adamw"), coordinates="readout-multiplier"
    )
    assert _cells(r, "c") == oracles.MUADAM_WD["c"]
    assert _cells(r, "wd") == oracles.MUADAM_WD["wd"]
    assert abcparam.equivalent(abcparam.rules("mup", optimizer="adamw"), r)


def test_independent_weight_decay_is_width_independent():
    r = abcparam.rules("u-mup", optimizer="adamw", weight_decay="independent")
    assert _cells(r, "wd") == oracles.WORTSMAN_INDEPENDENT_WD
    assert "Wortsman" in r["hidden"].why["wd"]


@pytest.mark.parametrize("scheme", ["sp", "ntp", "mup", "u-mup"])
@pytest.mark.parametrize("optimizer", ["adamw", "lion", "sgd", "adafactor"])
def test_coupled_decay_keeps_lr_times_lambda_fixed(scheme, optimizer):
    r = abcparam.rules(scheme, optimizer=optimizer)
    for rule in r:
        assert sympy.expand(rule.c + rule.wd) == 0, (scheme, optimizer, rule.kind)
    assert r.to_dict()["weight_decay"] == "coupled"
    assert r.to_dict()["layers"]["hidden"]["wd"] == str(r["hidden"].wd)


def test_adam_l2_decay_has_no_width_rule():
    r = abcparam.rules("mup", optimizer="adam")
    assert r["hidden"].wd is None and "adamw" in r["hidden"].why["wd"]


def test_adamw_has_adams_exponents():
    for scheme in ("sp", "mup", "u-mup"):
        adam, adamw = abcparam.rules(scheme, "adam"), abcparam.rules(scheme, "adamw")
        for kind in adam.kinds:
            assert (adam[kind].c, adam[kind].eps) == (adamw[kind].c, adamw[kind].eps)


@pytest.mark.parametrize("name", ["lion", "sign"])
@pytest.mark.parametrize("alignment", ["full", "none"])
def test_lion_and_sign_are_adam_without_epsilon(name, alignment):
    assert oracles.LION_AS_ADAM
    for scheme in ("sp", "mup", "u-mup"):
        adam = abcparam.rules(scheme, "adam", alignment)
        lion = abcparam.rules(scheme, name, alignment)
        assert _cells(lion, "c") == _cells(adam, "c")
        assert all(rule.eps is None for rule in lion)


def test_muon_hidden_c_comes_out_of_the_solver():
    keller = abcparam.rules("mup", optimizer="muon")
    moonshot = abcparam.rules("mup", optimizer="muon-rms")
    assert str(keller["hidden"].c) == oracles.MUON_ORIGINAL_HIDDEN_C
    assert moonshot["hidden"].c == Q(1, 2)
    for r in (keller, moonshot):
        assert r["hidden"].optimizer.startswith("muon") and r["readout"].optimizer == "adamw"
        assert r.regime.startswith("feature learning")
        assert "spectral view" in r["hidden"].why["c"]
        assert r.notes and "hidden" in r.notes[0]


def test_muon_entry_view_departs_by_one_half():
    for name in ("muon", "muon-rms", "muon-none"):
        spectral = abcparam.rules("mup", optimizer=name)
        entry = abcparam.rules("mup", optimizer=name, update_view="entry")
        assert entry["hidden"].c - spectral["hidden"].c == Q(1, 2)
        assert "entry view" in entry["hidden"].why["c"]
        # with the entry view's alignment at 1/2 the two agree again
        none = abcparam.rules(
            "mup", optimizer=name, alignment={"alpha": Q(1, 2), "u": Q(1, 2)}, update_view="entry"
        )
        assert none["hidden"].c == spectral["hidden"].c


def test_moonshot_scaling_gives_adams_entry_size():
    # entries of a full-rank orthogonalised n x n matrix: n^-1/2 (Moonshot's Lemma 1); times
    # 0.2 sqrt(n): Adam's k = a + c in every matrix kind
    muon = get_optimizer("muon-rms").optimizer_for("hidden")
    assert str(muon.entry_offset("hidden") + muon.scale_exponent("hidden")) == (
        oracles.MOONSHOT_ENTRY_RMS_EXPONENT
    )
    a, c = sympy.symbols("a c")
    for kind in CORE:
        assert muon.update_forms(kind, a, 0, c, []) == OPTIMIZERS["adam"].update_forms(
            kind, a, 0, c, []
        )


def test_muon_is_invariant_along_the_abc_symmetry():
    r = abcparam.rules("mup", optimizer="muon")
    for coords in ("no-multipliers", "readout-multiplier", "unit-scaled"):
        moved = abcparam.reparametrize(r, coordinates=coords)
        assert abcparam.equivalent(r, moved)
    # u-muP's (a, b) give the same dynamics as muP up to the symmetry (its embedding rule aside)
    u = abcparam.rules("u-mup", optimizer="muon")
    assert u["hidden"].c == r["hidden"].c - (u["hidden"].a - r["hidden"].a)


def test_per_kind_plan_uses_each_kinds_own_model():
    plan = abcparam.rules("mup", optimizer={"hidden": "sgd", "default": "adam"})
    sgd, adam = abcparam.rules("mup", "sgd"), abcparam.rules("mup", "adam")
    assert plan["hidden"].c == sgd["hidden"].c and plan["embedding"].c == adam["embedding"].c
    assert plan.optimizers["hidden"] == "sgd" and plan.optimizers["bias"] == "adam"
    assert plan["hidden"].eps is None and plan["readout"].eps == adam["readout"].eps
    assert is_pareto_minimal(plan)
    assert plan is abcparam.rules("mup", optimizer="hidden=sgd,default=adam")
    assert "| hidden | sgd |" in plan.to_markdown()


def test_muon_plan_is_pareto_minimal():
    assert is_pareto_minimal(abcparam.rules("mup", optimizer="muon"))


@pytest.mark.parametrize(
    "optimizer, message",
    [
        ({"hidden": "muon"}, "names no optimizer for"),
        ({"default": "muon"}, "Muon orthogonalises matrices; layer kind 'bias'"),
        ("hidden:muon", "unknown optimizer 'hidden:muon'"),
        ({"attention": "muon", "default": "adam"}, "unknown layer kind 'attention'"),
    ],
)
def test_bad_plans(optimizer, message):
    with pytest.raises(ValueError, match=message):
        abcparam.rules("mup", optimizer=optimizer)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"weight_decay": "decoupled"},
            "weight_decay = 'decoupled'; accepted: coupled, independent",
        ),
        ({"update_view": "op"}, "update_view = 'op'; accepted: spectral, entry"),
    ],
)
def test_bad_conventions(kwargs, message):
    with pytest.raises(ValueError, match=message):
        abcparam.rules("mup", optimizer="muon", **kwargs)


def test_muon_predicted_update_and_change_slopes():
    r = abcparam.rules("mup", optimizer="muon")
    rows = predict_slopes(r, ["embedding", "hidden", "hidden", "readout"], step=1)
    hidden = rows[1]
    assert hidden["update"] == -Q(1, 2)  # full-rank entries n^-1/2 at c = 0
    assert hidden["alignment"]["alpha"] == Q(1, 2)
    assert hidden["delta"] == 0 and hidden["terms"]["alpha"] == 0


def test_results_are_read_only_and_the_cache_survives():
    r = abcparam.rules("mup", optimizer="adam")
    with pytest.raises(TypeError):
        r.layers["hidden"] = None
    with pytest.raises(TypeError):
        r["hidden"].why["c"] = "tampered"
    with pytest.raises(AttributeError):
        r["hidden"].c = 0
    with pytest.raises(AttributeError):
        r.layers._data = {}
    again = abcparam.rules("mup", optimizer="adam")
    assert again["hidden"].c == 1 and "tampered" not in again["hidden"].why["c"]
    with pytest.raises(TypeError):
        r.front[0]["hidden"] = 0
    clone = pickle.loads(pickle.dumps(r))
    assert clone.to_dict() == r.to_dict()
    derived = r.with_c(0)
    assert r["hidden"].c == 1 and derived["hidden"].c == 0 and derived["hidden"].wd is None


def test_muon_entries_follow_a_measured_alignment_while_the_product_stays():
    """Spectral view: Muon fixes the operator norm, so a measured alpha (a gradient of rank below
    the width) moves the predicted entry size, not the predicted change of the output; Adam's
    entries are set entry by entry and do not move."""
    import abcparam
    from abcparam.engine.predict import predict_slopes

    chain = ["embedding", "hidden", "hidden", "readout"]
    low_rank = [None, {"alpha": 1.0}, {"alpha": 1.0}, None]
    for optimizer, moved in (("muon", True), ("adam", False)):
        rules = abcparam.rules("mup", optimizer=optimizer)
        preset = predict_slopes(rules, chain, 1)
        measured = predict_slopes(rules, chain, 1, alignment=low_rank)
        for p, m in zip(preset[1:3], measured[1:3]):
            assert m["update"] == (p["update"] - sympy.Rational(1, 2) if moved else p["update"])
            if moved:
                assert m["delta"] == p["delta"]
    entry = abcparam.rules("mup", optimizer="muon", update_view="entry")
    p, m = (predict_slopes(entry, chain, 1, alignment=al)[1] for al in (None, low_rank))
    assert m["update"] == p["update"]  # the entry view keeps its entries


def test_the_rules_say_where_decoupled_decay_outgrows_the_update():
    """Both decay conventions keep the per-step decay fraction width-independent, so a layer whose
    features move by less than its output at init (u-muP's unit-scaled embedding: n^-1/2 against
    n^0) ends up moved by the decay, not the gradient; muP's layers do not."""
    for convention in ("coupled", "independent"):
        u = abcparam.rules("u-mup", optimizer="adamw", weight_decay=convention)
        assert "outgrows the update's n^-(1/2)" in u["embedding"].why["wd"]
        assert "outgrows" not in u["hidden"].why["wd"] + u["readout"].why["wd"]
        mup = abcparam.rules("mup", optimizer="adamw", weight_decay=convention)
        assert not any("outgrows" in mup[k].why["wd"] for k in ("embedding", "hidden", "readout"))
    assert "outgrows" not in abcparam.rules("u-mup", optimizer="adam")["embedding"].why["wd"]
