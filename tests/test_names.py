"""One meaning per name at 0.1.0: "shared" (TP-IV's largest stable c common to all layers) and
"constant" (c = 0 everywhere, one width-independent LR); the old word "global" is refused, and
"constant" reaches every model kind the CLI checks (a user model included)."""

import json
from types import SimpleNamespace

import pytest

import abcparam
from abcparam.coordcheck.builtin import builtin_rules as _rules_for
from abcparam.transfer.sweep import grid, sweep_scheme


def test_shared_lr_and_no_global_alias():
    shared = abcparam.rules("mup", optimizer="sgd", lr="shared")
    assert shared.lr_mode == "shared"
    with pytest.raises(ValueError, match="lr = 'global'; accepted: per-layer, shared"):
        abcparam.rules("mup", optimizer="sgd", lr="global")


def test_bad_lr_mode_names_the_accepted_ones():
    with pytest.raises(ValueError, match="accepted: per-layer, shared"):
        abcparam.rules("mup", lr="everywhere")


def test_coordcheck_constant_lr_is_c_zero_and_global_is_refused():
    def config(lr_exponents):
        return SimpleNamespace(
            scheme="sp", optimizer="adam", alignment="full", lr_exponents=lr_exponents
        )

    constant = _rules_for(config("constant"))
    assert all(rule.c == 0 for rule in constant.layers.values())
    assert any(rule.c != 0 for rule in _rules_for(config("derived")).layers.values())
    for bad in ("global", "sometimes"):
        with pytest.raises(ValueError, match="accepted: derived, constant"):
            _rules_for(config(bad))


def test_sweep_scheme_sp_constant_lr_and_no_sp_global_alias():
    assert sweep_scheme("sp-constant-lr") == "sp-constant-lr"
    assert grid("mlp", ["sp-constant-lr"], "adam", [64], [-8.0], 1)[0].scheme == "sp-constant-lr"
    for bad in ("sp-global", "sp-everywhere"):
        with pytest.raises(ValueError, match="accepted: sp-constant-lr, sp, mup, u-mup"):
            sweep_scheme(bad)


@pytest.mark.parametrize("lr_exponents", ["constant", "derived"])
def test_cli_user_model_applies_constant_lr_exponents(tmp_path, lr_exponents):
    """The bug this fixes: a user model asked for --lr-exponents constant was checked with the
    derived exponents, silently (only the deprecated word 'global' set c = 0)."""
    from abcparam.cli import main

    out = tmp_path / lr_exponents
    argv = ["coord-check", "--model", "own_model_fixture:make", "--batch"]
    argv += ["own_model_fixture:batch", "--scheme", "mup", "--lr-exponents", lr_exponents]
    argv += ["--widths", "32,64,128", "--steps", "1", "--seeds", "1", "--out", str(out)]
    assert main(argv) in (0, 1)
    layers = json.loads((out / "results.json").read_text())["config"]["rules"]["layers"]
    cs = {kind: layer["c"] for kind, layer in layers.items()}
    if lr_exponents == "constant":
        assert set(cs.values()) == {"0"}, cs
    else:
        assert cs["hidden"] == "1" and cs["readout"] == "1/2", cs  # muP + Adam


def test_cli_refuses_global_lr_exponents(capsys):
    from abcparam.cli import main

    assert main(["coord-check", "--lr-exponents", "global"]) == 2
    assert "'global'" in capsys.readouterr().err
