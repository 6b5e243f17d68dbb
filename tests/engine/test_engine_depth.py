"""Depth exponents: published depth cells reproduced by derivation, constraints, API, speed."""

import subprocess
import sys
import time

import pytest
import sympy
from oracles import (
    COMPLETEP_CODE_EPS_OUTSIDE,
    COMPLETEP_NOTEBOOK,
    COMPLETEP_TABLE1,
    COMPLETEP_TABLE1_WIDTH,
    TPVI_TABLE1,
)

import abcparam
from abcparam.engine.depth import growth, make_depth_alignment

ALPHA = sympy.Symbol("alpha")
Q = sympy.Rational


def at(text: str, alpha) -> sympy.Expr:
    """An oracle cell (a string in alpha) at a given alpha."""
    return sympy.sympify(text, locals={"alpha": ALPHA}).subs(ALPHA, alpha)


def depth_of(r, kind: str, name: str, in_block: bool = True):
    return r[kind].depth[name] if in_block else r.outside_depth[name]


# -- TP-VI Table 1 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_depth_mup_reproduces_tpvi_table1(optimizer):
    """TP-VI Table 1: branch a/sqrt(L); LR eta (SGD), eta/sqrt(L) (Adam); init depth-free."""
    r = abcparam.rules("depth-mup", optimizer=optimizer)
    assert r.branch_multiplier == abcparam.L ** (-Q(TPVI_TABLE1["branch"]))
    assert r["hidden"].depth["c"] == Q(TPVI_TABLE1[optimizer])
    assert r["hidden"].depth["b"] == Q(TPVI_TABLE1["init"])


# -- CompleteP Table 1 -----------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [Q(1, 2), Q(1)])
@pytest.mark.parametrize("cell", sorted(COMPLETEP_TABLE1["lr"]))
def test_completep_table1_learning_rates(alpha, cell):
    """CompleteP Table 1 (depth column, alpha in {1/2, 1}): every LR row, inside and outside the
    residual blocks."""
    kind, in_block = cell
    r = abcparam.rules("mup", optimizer="adamw", depth_alpha=alpha)
    assert depth_of(r, kind, "c", in_block) == at(COMPLETEP_TABLE1["lr"][cell], alpha)


@pytest.mark.parametrize("alpha", [Q(1, 2), Q(1)])
def test_completep_table1_branch_init_and_eps(alpha):
    r = abcparam.rules("mup", optimizer="adamw", depth_alpha=alpha)
    assert r.branch_multiplier == abcparam.L ** (-at(COMPLETEP_TABLE1["branch"], alpha))
    for kind, value in COMPLETEP_TABLE1["init"].items():
        assert r[kind].depth["b"] == Q(value)
    for kind in ("hidden", "bias", "norm"):  # eps m_L^-alpha inside the residual blocks
        assert r[kind].depth["eps"] == at(COMPLETEP_TABLE1["eps_in_blocks"], alpha)


def test_completep_preset_is_alpha_one_and_keeps_mup_width():
    """The preset = alpha 1; the width exponents are muP's, untouched by depth, and match
    CompleteP's width column in its own (readout-multiplier) coordinates."""
    cp, mup = abcparam.rules("completep", optimizer="adamw"), abcparam.rules("mup", "adamw")
    assert cp.depth_alpha == 1 and cp.branch_multiplier == 1 / abcparam.L
    for kind in cp.kinds:
        assert (cp[kind].a, cp[kind].b, cp[kind].c, cp[kind].eps) == (
            mup[kind].a,
            mup[kind].b,
            mup[kind].c,
            mup[kind].eps,
        )
    moved = abcparam.reparametrize(cp, coordinates="readout-multiplier")
    lr = tuple(moved[k].c for k in ("embedding", "hidden", "readout"))
    assert lr == tuple(Q(v) for v in COMPLETEP_TABLE1_WIDTH["lr"])
    assert cp["hidden"].eps == Q(COMPLETEP_TABLE1_WIDTH["eps_hidden"])
    n, L = abcparam.N, abcparam.L
    assert cp["hidden"].lr_factor == 1 / n  # eta m_N^-1 m_L^(alpha - 1) at alpha = 1
    assert cp["hidden"].eps_factor == 1 / (n * L)


def test_completep_weight_decay_agrees_at_alpha_one_and_differs_at_one_half():
    """Table: hidden lambda m_N with no depth factor for both alpha.  Derived (coupled AdamW, per-step
    decay lr*lambda depth-independent): lambda ~ L^(1 - alpha).  Equal at alpha = 1 (CompleteP);
    at alpha = 1/2 the derivation asks lambda ~ sqrt(L) where the table keeps lambda fixed (its
    per-step decay then shrinks as L^-1/2)."""
    table = Q(COMPLETEP_TABLE1["hidden_weight_decay"])
    assert abcparam.rules("completep", "adamw")["hidden"].depth["wd"] == table
    half = abcparam.rules("depth-mup", "adamw")["hidden"].depth["wd"]
    assert half == -Q(1, 2) and half != table


def test_completep_code_scales_eps_everywhere_but_derivation_only_in_blocks():
    """CompleteP's code multiplies eps by m_L^-alpha for every parameter; its table only in the
    residual blocks.  The derivation sides with the table: outside the blocks the gradient is the
    stream's backward signal, Theta(1) in depth, so eps_L = 0 there."""
    r = abcparam.rules("completep", "adamw")
    assert r["hidden"].depth["eps"] == at(COMPLETEP_CODE_EPS_OUTSIDE, 1)
    for kind in ("embedding", "readout"):
        assert r[kind].depth["eps"] == 0 != at(COMPLETEP_CODE_EPS_OUTSIDE, 1)
    assert r.outside_depth["eps"] == 0  # a final LN


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_completep_notebook_general_alpha(optimizer):
    """The authors' toy notebook: SGD LR (L/L0)^(2 alpha - 1), Adam (L/L0)^(alpha - 1), eps
    (L/L0)^-alpha -- reproduced with alpha a symbol."""
    r = abcparam.rules("mup", optimizer=optimizer, depth_alpha=ALPHA)
    assert sympy.expand(r["hidden"].depth["c"] - at(COMPLETEP_NOTEBOOK[optimizer], ALPHA)) == 0
    if optimizer == "adam":
        assert r["hidden"].depth["eps"] == at(COMPLETEP_NOTEBOOK["eps"], ALPHA)


# -- constraints, alignment, optimizers ------------------------------------------------------------
def test_symbolic_alpha_states_the_stable_nontrivial_range():
    r = abcparam.rules("mup", optimizer="adam", depth_alpha=ALPHA)
    conds = {c.name: c.condition for c in r.depth_constraints}
    assert conds["init stability"] == sympy.Ge(ALPHA, Q(1, 2))
    assert conds["block stability"] == sympy.Le(ALPHA, 1)
    assert "alpha >= 1/2" in r.depth_regime
    for alpha, ok in [(0, False), (Q(1, 4), False), (Q(1, 2), True), (1, True), (2, False)]:
        rr = abcparam.rules("mup", optimizer="adam", depth_alpha=alpha)
        assert rr.depth_regime.startswith("stable") is ok, (alpha, rr.depth_regime)


def test_depth_alignment_changes_lr_and_which_alpha_is_allowed():
    """Independent sums (beta = 1/2) leave alpha = 1/2 as the only stable, nontrivial branch
    exponent; coherent sums (beta = 1) allow [1/2, 1] and make alpha = 1 'complete'."""
    ind = abcparam.rules("mup", "adam", depth_alpha=ALPHA, depth_alignment="independent")
    assert sympy.expand(ind["hidden"].depth["c"] - (Q(1, 2) - ALPHA)) == 0
    assert {c.name: c.condition for c in ind.depth_constraints}["block stability"] == sympy.Le(
        ALPHA, Q(1, 2)
    )
    assert abcparam.rules(
        "completep", "adam", depth_alignment="independent"
    ).depth_regime.startswith("unstable")
    beta = sympy.Symbol("beta")
    sym = abcparam.rules("depth-mup", "sgd", depth_alignment=beta)
    assert sympy.expand(sym["hidden"].depth["c"] - (beta - 1)) == 0
    assert abcparam.rules("completep", "adam")["hidden"].depth["r"] == 0  # complete
    assert abcparam.rules("depth-mup", "adam")["hidden"].depth["r"] == Q(1, 2)  # lazy blocks


@pytest.mark.parametrize("optimizer", sorted(abcparam.OPTIMIZERS))
def test_each_optimizer_gives_its_depth_exponent(optimizer):
    """Through each update model: the block's step must be L^-(beta - alpha); SGD's step carries
    the branch multiplier in its gradient, normalised and relative steps do not."""
    alpha = Q(3, 4)
    r = abcparam.rules("mup", optimizer=optimizer, depth_alpha=alpha)
    model = abcparam.get_optimizer(optimizer)
    c_L = r["hidden"].depth["c"]
    assert model.depth_step(c_L, alpha, 0) == 1 - alpha  # the constraint it was solved from
    assert r["embedding"].depth["c"] == 0 and r["readout"].depth["c"] == 0
    expected = 1 - 2 * alpha if optimizer == "sgd" else 1 - alpha
    assert c_L == expected
    assert (r["hidden"].depth["eps"] is None) == (not model.has_eps)


def test_why_names_the_constraint_for_every_depth_exponent():
    r = abcparam.rules("completep", "adamw")
    assert "stream stability and nontriviality" in r["hidden"].why["c_L"]
    assert "branch multiplier" in r["hidden"].why["eps_L"]
    assert "init stability" in r["hidden"].why["b_L"]
    assert "outside the residual blocks" in r["embedding"].why["c_L"]
    assert "complete feature learning" in r.depth_why


def test_growth_predicts_stream_exponents():
    """No depth rule (alpha 0, depth-free Adam LR): stream grows like sqrt(L) at init and L in
    training (coherent); Depth-muP / CompleteP: flat."""
    assert growth(0, 0) == {"stream_init": Q(1, 2), "block_change": 0, "stream_change": 1}
    assert growth(0, 0, "independent")["stream_change"] == Q(1, 2)
    for scheme in ("depth-mup", "completep"):
        r = abcparam.rules(scheme, "adam")
        g = growth(r.depth_alpha, r["hidden"].depth["c"])
        assert g["stream_init"] == 0 and g["stream_change"] == 0


def test_u_mup_depth_is_a_named_convention():
    r = abcparam.rules("u-mup", optimizer="adam", depth=True)
    assert r.branch_multiplier == abcparam.L ** -Q(1, 2)
    assert r["hidden"].depth["c"] == Q(1, 2)
    assert "App. G" in r.depth_why
    assert not abcparam.rules("u-mup", optimizer="adam").has_depth


def test_depth_fields_render_and_serialise():
    r = abcparam.rules("completep", "adamw")
    d = r.to_dict()
    assert d["depth"]["alpha"] == "1" and d["layers"]["hidden"]["depth"]["c"] == "0"
    assert "c (n, L)" in r.to_markdown()
    assert "depth" not in abcparam.rules("mup").to_dict()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"depth": True}, "no depth rule of its own"),
        ({"depth_alpha": 0.5}, "float"),
        ({"depth_alpha": "x"}, "not an exact number"),
        ({"depth_alpha": 1, "depth_alignment": "strong"}, "depth alignment"),
        ({"depth_alpha": 1, "depth_alignment": 2}, r"\[1/2, 1\]"),
        ({"depth": "yes"}, "depth = 'yes'"),
        ({"depth": False, "depth_alpha": 1}, "contradicts"),
    ],
)
def test_bad_depth_input_is_refused_clearly(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        abcparam.rules("mup", optimizer="adam", **kwargs)


def test_make_depth_alignment_names():
    assert make_depth_alignment("coherent").beta == 1
    assert make_depth_alignment("independent").beta == Q(1, 2)
    assert make_depth_alignment("3/4").name == "beta = 3/4"


# -- speed and CLI ---------------------------------------------------------------------------------
def test_all_schemes_optimizers_alignments_with_and_without_depth_under_two_seconds():
    """Every table derived in a fresh process (empty caches) in < 2 s of CPU time (process time:
    a shared machine's contention does not count), not counting the import itself (sympy's
    import alone takes ~1.5 s on the 2-core machine); a repeated query < 1 ms."""
    code = (
        "import time; import abcparam; t = time.process_time()\n"
        "for s in abcparam.SCHEMES:\n"
        "  for o in abcparam.OPTIMIZERS:\n"
        "    for al in ('full', 'none'):\n"
        "      abcparam.rules(s, o, al, depth=False)\n"
        "      own = abcparam.SCHEMES[s].depth_alpha\n"
        "      abcparam.rules(s, o, al, depth_alpha=None if own else '1/2', depth=True if own else None)\n"
        "print(time.process_time() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert {"depth-mup", "completep"} <= set(abcparam.SCHEMES)
    assert float(out.stdout.strip()) < 2.0, out.stdout
    abcparam.rules("completep", "adamw")
    t = time.process_time()
    abcparam.rules("completep", "adamw")
    assert time.process_time() - t < 1e-3


def test_cli_prints_both_exponents_per_layer(capsys):
    from abcparam.cli import main

    assert main(["rules", "completep", "--optimizer", "adamw"]) == 0
    out = capsys.readouterr().out
    assert "| hidden | 0, 0 | 1/2, 0 | 1, 0 | 1, 1 |" in out and "1/L" in out
    assert main(["rules", "mup", "--depth-alpha", "symbol:alpha", "--optimizer", "sgd"]) == 0
    assert "alpha >= 1/2" in capsys.readouterr().out
