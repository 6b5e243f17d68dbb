"""Horizon and batch rules in the engine: derived laws, the weight-decay combination per layer,
fitted laws as data with their range."""

import warnings

import pytest
import sympy

import abcparam
from abcparam.engine.exponents import N
from abcparam.engine.fitted import STEP_LAW_LR, OutsideFittedRange, step_law
from abcparam.engine.horizon import (
    B,
    D,
    ema_timescale,
    layer_weight_decay,
    sde_batch,
    symbols,
    timescale_exponent_check,
)


def test_adam_square_root_rule_moves_lr_beta_eps():
    rule = sde_batch("adam")
    assert rule.kind == "derived"
    base, target = {B: 32}, {B: 128}
    assert rule.factor("lr", base, target) == pytest.approx(2.0)
    assert rule.factor("one_minus_beta", base, target) == pytest.approx(4.0)
    assert rule.factor("eps", base, target) == pytest.approx(0.5)
    assert rule.factor("steps", base, target) == pytest.approx(0.25)
    assert "Malladi" in rule.source and "B_crit" in rule.why["lr"]


def test_sgd_linear_rule():
    rule = sde_batch("sgd")
    assert rule.factor("lr", {B: 8}, {B: 64}) == pytest.approx(8.0)
    assert "eps" not in rule.laws


def test_sde_rule_refuses_an_optimizer_it_is_not_derived_for():
    with pytest.raises(ValueError, match="derived for"):
        sde_batch("lion")


@pytest.mark.parametrize("convention", ["coupled", "independent"])
def test_ema_timescale_keeps_tau_epoch(convention):
    """λ from the rule keeps τ_epoch = B/(ηλD) (coupled) or B/(λD) (independent) fixed."""
    law = ema_timescale(convention).laws["weight_decay"]
    eta = sympy.Symbol("eta", positive=True)
    per_step = eta * law if convention == "coupled" else law
    tau_epoch = B / (per_step * D)
    assert not (tau_epoch.free_symbols & {B, D, N}), tau_epoch


def test_ema_timescale_unknown_convention():
    with pytest.raises(ValueError, match="coupled, independent"):
        ema_timescale("decoupled")


@pytest.mark.parametrize("scheme", ["mup", "completep", "sp"])
@pytest.mark.parametrize("convention", ["coupled", "independent"])
def test_width_exponent_of_decay_is_the_fixed_timescale_one(scheme, convention):
    """Keeping each layer's τ_iter fixed across widths gives the engine's derived wd exponent."""
    rules = abcparam.rules(scheme, optimizer="adamw", weight_decay=convention)
    checks = timescale_exponent_check(rules)
    assert checks and all(checks.values()), checks


def test_layer_weight_decay_combines_width_and_timescale():
    rules = abcparam.rules("mup", optimizer="adamw", weight_decay="coupled")
    laws = layer_weight_decay(rules, lr_law=sympy.sqrt(B))
    # hidden: λ ∝ n^c (c = 1) times B/(√B D)
    assert sympy.simplify(laws["hidden"] - N * sympy.sqrt(B) / D) == 0
    independent = layer_weight_decay(
        abcparam.rules("mup", optimizer="adamw", weight_decay="independent")
    )
    assert sympy.simplify(independent["hidden"] - B / D) == 0


def test_rules_render():
    for rule in (sde_batch("adamw"), ema_timescale("coupled"), step_law()):
        d = rule.to_dict()
        assert d["kind"] in ("derived", "fitted") and d["why"] and d["source"]
        assert "| lr |" in rule.to_markdown() or "| weight_decay |" in rule.to_markdown()
        assert "\\propto" in rule.to_latex()
    assert set(symbols()) == {"n", "L", "T", "B", "D"}


def test_step_law_is_fitted_data_with_range():
    rule = step_law()
    assert rule.kind == "fitted" and "2503.04715" in rule.source
    assert STEP_LAW_LR.value(N=1e8, D=1e10) == pytest.approx(1.79 * 1e8**-0.713 * 1e10**0.307)
    assert STEP_LAW_LR.outside(N=1e8, D=1e10) == []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        STEP_LAW_LR.check(N=1e8, D=1e13)
    assert caught and issubclass(caught[0].category, OutsideFittedRange)
    assert "D ≤ 1e+11" in str(caught[0].message)
