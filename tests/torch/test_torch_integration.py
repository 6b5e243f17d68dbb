"""Applying rules to torch models: multipliers, init, LR groups, mapping errors, Adam-atan2."""

import math

import pytest
import torch
from torch import nn

import abcparam
from abcparam.torch import (
    GPT,
    MLP,
    AdamAtan2,
    UnmappedParameterError,
    build_optimizer,
    map_parameters,
    parametrize,
)


def test_base_width_model_is_unchanged_by_the_rules():
    """muTransfer: at the base width every multiplier and LR factor is 1 (TP-V)."""
    spec = parametrize(MLP(128), abcparam.rules("mup"), base_width=128, seed=0)
    assert all(p.multiplier == 1 and p.lr_scale == 1 and p.eps_scale == 1 for p in spec.params)


def test_mup_adam_exponents_become_width_factors():
    rules = abcparam.rules("mup", optimizer="adam")
    model = MLP(512)
    spec = parametrize(model, rules, base_width=128, seed=0)
    hidden, readout = spec.param("hidden.0.weight"), spec.param("readout.weight")
    assert hidden.lr_scale == pytest.approx(4**-1)  # c = 1
    assert readout.multiplier == pytest.approx(4**-0.5)  # a = 1/2
    assert readout.init_std == pytest.approx(4**-0.5 / math.sqrt(128))  # b = 1/2
    assert model.hidden[0].weight.std().item() == pytest.approx(hidden.init_std, rel=0.05)
    opt = build_optimizer(model, spec, lr=1e-2, eps=1e-8)
    groups = {n: g for g in opt.param_groups for n in g["param_names"]}
    assert groups["hidden.0.weight"]["lr"] == pytest.approx(1e-2 / 4)
    assert groups["hidden.0.weight"]["eps"] == pytest.approx(1e-8 / 4)  # eps exponent 1


def test_attention_scale_follows_the_rules():
    gpt = GPT(256, n_heads=4)
    parametrize(gpt, abcparam.rules("mup"), base_width=128, seed=0)
    d, d0 = 64, 32
    assert gpt.blocks[0].attn.scale == pytest.approx(d**-1 * d0**0.5)  # 1/d, = 1/sqrt(d0) at base
    parametrize(gpt, abcparam.rules("sp"), base_width=128, seed=0)
    assert gpt.blocks[0].attn.scale == pytest.approx(d**-0.5)


def _seq(width: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(8, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, 3, bias=False),
    )


def test_user_model_is_mapped_by_shape_and_multiplied_by_torch_parametrize():
    model = _seq(256)
    kinds = map_parameters(model, _seq(64))
    assert kinds == {
        "0.weight": "embedding",
        "0.bias": "bias",
        "2.weight": "hidden",
        "2.bias": "bias",
        "4.weight": "readout",
    }
    parametrize(model, abcparam.rules("mup"), base=_seq(64), width=256, seed=0)
    assert model[4].weight.shape == (3, 256)  # parametrized weight still usable
    assert torch.isfinite(model(torch.randn(2, 8))).all()


def test_unmapped_parameter_is_a_clear_error():
    model = nn.Sequential(nn.Linear(8, 256), nn.Linear(256, 256), nn.Linear(256, 3))
    with pytest.raises(UnmappedParameterError, match=r"'0.weight' \(shape \(256, 8\).*no base"):
        map_parameters(model)
    assert map_parameters(model, layer_map={".": "hidden"})["2.bias"] == "hidden"


def test_symbolic_rules_cannot_be_applied():
    import sympy

    with pytest.raises(ValueError, match="symbolic"):
        parametrize(MLP(128), abcparam.rules("mup", alignment=sympy.Symbol("x")), 64)


def test_adam_atan2_is_invariant_to_gradient_scale():
    """Everett et al. 2024, App. Adam-atan2: atan2(m, sqrt v) is scale invariant."""
    steps = []
    for scale in (1e-12, 1.0, 1e6):
        p = nn.Parameter(torch.ones(5))
        opt = AdamAtan2([p], lr=0.1)
        for g in torch.linspace(-1, 1, 3):
            p.grad = scale * (torch.arange(5.0) - 2 + g)
            opt.step()
        steps.append(p.detach().clone())
    assert torch.allclose(steps[0], steps[1]) and torch.allclose(steps[1], steps[2])


def test_adam_atan2_matches_adam_direction_when_eps_negligible():
    """atan2(x, 1) ~ x for small x: with b large, a*atan2(m, b sqrt v) ~ (a/b) m/sqrt(v)."""
    torch.manual_seed(0)
    g = torch.randn(50)
    p1, p2 = nn.Parameter(torch.zeros(50)), nn.Parameter(torch.zeros(50))
    b = 1e3
    atan = AdamAtan2([p1], lr=1.0, a=b, b=b)
    adam = torch.optim.Adam([p2], lr=1.0, eps=1e-12)
    for opt, p in ((atan, p1), (adam, p2)):
        p.grad = g.clone()
        opt.step()
    assert torch.allclose(p1, p2, atol=1e-5)
    assert torch.nn.functional.cosine_similarity(p1, p2, dim=0) > 0.999999
