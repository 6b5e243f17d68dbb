"""One word per meaning: "shared" (TP-IV's largest stable c common to all layers) and "constant"
(c = 0 everywhere, one width-independent LR); the old word "global" still works, with a warning."""

from types import SimpleNamespace

import pytest

import abcparam
from abcparam.coordcheck.run import _rules_for
from abcparam.transfer.sweep import grid, sweep_scheme


def test_shared_lr_is_the_new_name_and_global_is_deprecated():
    shared = abcparam.rules("mup", optimizer="sgd", lr="shared")
    assert shared.lr_mode == "shared"
    with pytest.warns(DeprecationWarning, match="lr='shared'"):
        old = abcparam.rules("mup", optimizer="sgd", lr="global")
    assert old == shared


def test_bad_lr_mode_names_the_accepted_ones():
    with pytest.raises(ValueError, match="accepted: per-layer, shared"):
        abcparam.rules("mup", lr="everywhere")


def test_coordcheck_constant_lr_is_c_zero_and_global_is_deprecated():
    def config(lr_exponents):
        return SimpleNamespace(
            scheme="sp", optimizer="adam", alignment="full", lr_exponents=lr_exponents
        )

    constant = _rules_for(config("constant"))
    assert all(rule.c == 0 for rule in constant.layers.values())
    old = config("global")
    with pytest.warns(DeprecationWarning, match="'constant'"):
        assert _rules_for(old) == constant
    assert old.lr_exponents == "constant"  # what the saved config then records
    with pytest.raises(ValueError, match="accepted: derived, constant"):
        _rules_for(config("sometimes"))


def test_sweep_scheme_sp_constant_lr_and_deprecated_sp_global():
    assert sweep_scheme("sp-constant-lr") == "sp-constant-lr"
    with pytest.warns(DeprecationWarning, match="sp-constant-lr"):
        configs = grid("mlp", ["sp-global"], "adam", [64], [-8.0], 1)
    assert configs[0].scheme == "sp-constant-lr"
    with pytest.raises(ValueError, match="accepted: sp-constant-lr, sp, mup, u-mup"):
        sweep_scheme("sp-everywhere")
