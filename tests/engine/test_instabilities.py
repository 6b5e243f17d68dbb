"""Instabilities (Wortsman et al. 2023): the engine's derived scaling of attention logits and
log Z, and the torch options that fix them: qk-layernorm in the built-in GPT, z-loss for any
model, traced in the sweeps."""

from __future__ import annotations

import math

import pytest
import sympy

import abcparam
from abcparam.engine.instability import instability_scaling

torch = pytest.importorskip("torch")


def test_mup_holds_every_instability_exponent_at_zero():
    for scheme in ("mup", "u-mup"):
        s = instability_scaling(abcparam.rules(scheme, optimizer="adam"))
        assert (s.onset_lr, s.attention_logit_growth, s.log_z_drift) == (0, 0, 0)
        assert s.attention_logit_init == sympy.Rational(-1, 2)  # 1/d logits at init


def test_sp_with_one_lr_moves_the_onset_as_n_to_minus_five_quarters():
    s = instability_scaling(abcparam.rules("sp", optimizer="adam").with_c(0))
    assert s.query_change == 1 and s.attention_logit_growth == sympy.Rational(5, 2)
    assert s.onset_lr == sympy.Rational(-5, 4) and s.log_z_drift == 1
    onsets = s.onset_lrs(64, 0.1, [64, 128])
    assert onsets[128] == pytest.approx(0.1 * 2**-1.25)


def test_exponents_are_invariant_under_the_adam_symmetry():
    """(a, b, c) -> (a + t, b - t, c - t) leaves Adam's dynamics, hence every exponent, unchanged."""
    r = abcparam.rules("mup", optimizer="adam")
    shifted = abcparam.reparametrize(r, coordinates="unit-scaled")
    assert shifted["hidden"].a != r["hidden"].a
    assert instability_scaling(r).to_dict() | {"scheme": None} == instability_scaling(
        shifted
    ).to_dict() | {"scheme": None}


def test_symbolic_alignment_and_bad_alignment():
    a = sympy.Symbol("a")
    s = instability_scaling(abcparam.rules("mup", optimizer="adam"), alignment=a)
    assert sympy.simplify(s.onset_lr + (a - 1)) == 0
    with pytest.raises(ValueError, match="alignment = 2"):
        instability_scaling(abcparam.rules("mup", optimizer="adam"), alignment=2)


def test_qk_layernorm_gpt_parametrizes_and_bounds_its_logits():
    from abcparam.torch import GPT, build_optimizer, parametrize

    torch.manual_seed(0)
    model = GPT(64, n_layers=1, vocab=11, context=8, qk_layernorm=True)
    spec = parametrize(model, abcparam.rules("mup", optimizer="adam"), base=32, seed=0)
    kinds = {p.name: p.kind for p in spec.params}
    assert kinds["blocks.0.attn.q_ln.weight"] == "norm"
    attn = model.blocks[0].attn
    attn.track_logits = True
    x = torch.randint(0, 11, (2, 8))
    model(x)
    # normalised q and k: |q.k| <= |q||k| = d_head (unit gains), times the 1/d scale -> <= d/d0-ish
    assert 0 < attn.max_logit <= attn.d_head * attn.scale + 1e-4
    opt = build_optimizer(model, spec, lr=1e-2)
    loss = model(x).sum()
    loss.backward()
    opt.step()
    assert model.at_width(32).config["qk_layernorm"] is True


def test_z_loss_adds_coefficient_times_log_z_squared():
    from abcparam.torch import log_partition, with_z_loss

    logits = torch.randn(4, 5, 7)
    targets = torch.randint(0, 7, (4, 5))
    plain = with_z_loss(None, 0.0)(logits, targets)
    z = with_z_loss(None, 1e-2)(logits, targets)
    assert float(z - plain) == pytest.approx(1e-2 * float(log_partition(logits).pow(2).mean()))
    with pytest.raises(ValueError, match="z_loss"):
        with_z_loss(None, -1.0)


def test_coordinate_check_takes_z_loss():
    from abcparam.coordcheck import check
    from abcparam.torch import MLP

    x, y = torch.randn(16, 8), torch.randint(0, 5, (16,))
    result = check(
        lambda w: MLP(w, in_dim=8, out_dim=5),
        abcparam.rules("mup", optimizer="adam"),
        (x, y),
        widths=(32, 64),
        steps=2,
        seeds=1,
        z_loss=1e-4,
        progress=False,
    )
    assert result.records


def test_traced_sweep_run_with_both_mitigations():
    from abcparam.transfer.sweep import RunConfig, train

    cfg = RunConfig(
        "transformer",
        "mup",
        "adam",
        32,
        -5.0,
        0,
        steps=4,
        base_width=16,
        batch=16,
        z_loss=1e-4,
        qk_layernorm=True,
        trace_every=2,
    )
    row = train(cfg)
    trace = row["trace"]
    assert trace["step"] == [2, 4] and len(trace["max_attention_logit"]) == 2
    assert all(math.isfinite(v) and v > 0 for v in trace["max_attention_logit"] + trace["loss"])
    # log Z of a 30+-symbol vocabulary starts near log V
    assert abs(trace["log_z"][0]) < 20
    # default settings stay out of the key: an old sweep keeps its identity
    plain = RunConfig("transformer", "mup", "adam", 32, -5.0, 0)
    assert plain.key == RunConfig("transformer", "mup", "adam", 32, -5.0, 0, z_loss=0.0).key
    assert cfg.key != RunConfig("transformer", "mup", "adam", 32, -5.0, 0, steps=4).key


def test_sp_and_mup_are_the_same_model_at_the_base_width():
    """Why the forecast tunes one LR at the base width for both schemes."""
    from abcparam.transfer.sweep import RunConfig, train

    runs = [
        RunConfig("transformer", s, "adam", 16, -6.0, 0, steps=3, base_width=16, batch=16)
        for s in ("mup", "sp-constant-lr")
    ]
    a, b = (train(c)["val_loss"] for c in runs)
    assert a == b


def test_sweep_grid_refuses_bad_settings():
    from abcparam.transfer.sweep import grid

    with pytest.raises(ValueError, match="z_loss"):
        grid("transformer", ["mup"], "adam", [16], [-6.0], 1, z_loss=-1)
    with pytest.raises(ValueError, match="qk_layernorm"):
        grid("mlp", ["mup"], "adam", [16], [-6.0], 1, qk_layernorm=True)
