"""SGD's backward signal G = min(a_out + b_out, k_out), written once (engine.solve.backward_forms)
and read by the solver, the shared-LR solver, the update exponents and the stability front."""

import sympy

import abcparam
from abcparam.engine.minmax import smin
from abcparam.engine.optimizers import get_optimizer
from abcparam.engine.recursion import Chain
from abcparam.engine.solve import backward_forms, readout_update, update_exponents

HALF = sympy.Rational(1, 2)


def test_g_is_the_readout_at_init_or_its_change():
    sgd = get_optimizer("sgd")
    a = {"readout": HALF}
    b = {"readout": HALF}
    moved = readout_update(sgd, a, b, sympy.Integer(0))
    assert moved == [1]  # SGD's readout update: k_out = 2a + c
    assert backward_forms(a, b, moved) == [1, 1]
    assert backward_forms(a, b, moved, step=1) == [1]
    # SP readout (a = 0, b = 1/2) with c = 1: the init (1/2) is larger than the change (1)
    sp_moved = readout_update(sgd, {"readout": 0}, b, sympy.Integer(1))
    assert smin(backward_forms({"readout": 0}, b, sp_moved)) == HALF


def test_the_solver_reports_the_same_g():
    r = abcparam.rules("mup", optimizer="sgd")
    a, b, c = r.exponents("a"), r.exponents("b"), r.exponents("c")
    g = smin(backward_forms(a, b, readout_update(get_optimizer("sgd"), a, b, c["readout"])))
    assert f"G = {g}" in r["hidden"].why["c"]
    # the hidden update k = 2a + c + G recomputed from that G matches update_exponents
    ks = update_exponents(a, b, c, get_optimizer("sgd"), Chain.mlp(2))
    assert ks[1] == 2 * a["hidden"] + c["hidden"] + g
