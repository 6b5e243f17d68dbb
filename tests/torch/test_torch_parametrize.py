"""parametrize() on any model: validation before change, re-application, conv and bias init,
tied weights, attention logit scales, and optimizer groups for any torch optimizer."""

import math

import pytest
import torch
from torch import nn

import abcparam
from abcparam.torch import MLP, parametrize
from abcparam.torch.apply import param_groups
from abcparam.torch.tied import TiedWeightsError, explain_tied, tied_rule

torch.set_num_threads(1)


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(one: dict, two: dict) -> bool:
    return one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)


def _seq(width: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(8, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 3)
    )


def test_parametrize_twice_reapplies_cleanly():
    """Before: multipliers stacked and biases were refilled as norm gains (1.0 -> 2.0)."""
    rules = abcparam.rules("mup")
    once, twice = _seq(64), _seq(64)
    parametrize(once, rules, base=_seq(16), seed=0, fold=False)
    parametrize(twice, rules, base=_seq(16), seed=0, fold=False)
    parametrize(twice, rules, base=_seq(16), seed=0, fold=False)
    assert _same(_state(once), _state(twice))
    x = torch.randn(4, 8)
    assert torch.equal(once(x), twice(x))
    assert len(twice[0].parametrizations.weight) == 1  # one multiplier, not two
    assert torch.all(twice[2].bias == 0) and torch.all(twice[4].bias == 0)  # biases start at 0


def test_width_given_must_match_the_model():
    with pytest.raises(ValueError, match="width = 256 given.*built at width 128"):
        parametrize(MLP(128), abcparam.rules("mup"), base=64, width=256)
    with pytest.raises(ValueError, match="base=make"):
        parametrize(_seq(64), abcparam.rules("mup"), base=16)
    with pytest.raises(ValueError, match="delta=make"):
        parametrize(_seq(64), abcparam.rules("mup"), base=_seq(64))


def test_head_bias_mapped_by_hand_no_index_error_and_nothing_half_done():
    """Before: layer_map {'bias': 'hidden'} crashed with an IndexError after earlier tensors had
    been re-initialised; now a vector keeps vector init whatever its kind, and a failing plan
    leaves every tensor as it was."""
    model = _seq(64)
    spec = parametrize(
        model, abcparam.rules("mup"), base=_seq(16), layer_map={r"4\.bias": "hidden"}
    )
    assert spec.param("4.bias").kind == "hidden" and torch.all(model[4].bias == 0)
    model, before = _seq(64), None
    before = _state(model)
    with pytest.raises(ValueError, match="symbolic"):
        parametrize(model, abcparam.rules("mup", alignment="symbolic"), base=_seq(16))
    assert _same(before, _state(model))


def test_frozen_model_is_an_error():
    model = _seq(32).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        parametrize(model, abcparam.rules("mup"), base=_seq(16).requires_grad_(False))


def _cnn(width: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, 10),
    )


def test_conv_init_counts_the_kernel_area():
    """std = 1/sqrt(channels x kernel area at the base) x ratio^-b, not 1/sqrt(channels)."""
    model = _cnn(256)
    spec = parametrize(model, abcparam.rules("mup"), base=_cnn(64), seed=0, fold=False)
    stem, hidden = spec.param("0.weight"), spec.param("3.weight")
    assert stem.kind == "embedding" and hidden.kind == "hidden"
    assert stem.init_std == pytest.approx(1 / math.sqrt(3 * 9) * 4**-0.5)  # b_embedding = 1/2
    assert hidden.init_std == pytest.approx(1 / math.sqrt(64 * 9) * 4**-0.5)  # b_hidden = 1/2
    assert model[3].weight.std().item() == pytest.approx(hidden.init_std, rel=0.02)
    assert spec.param("7.bias").kind == "scalar" and spec.param("1.weight").kind == "norm"
    assert torch.isfinite(model(torch.randn(2, 3, 8, 8))).all()


def _mha(width: int) -> nn.MultiheadAttention:
    return nn.MultiheadAttention(width, 2, batch_first=True)


def test_multihead_attention_logit_scale_is_exact():
    """nn.MultiheadAttention has no scale argument: the query is read through s sqrt(d); its
    attention weights and their gradients must equal softmax(s q.k) computed by hand."""
    rules = abcparam.rules("mup")  # logits q.k / d: s = d0^-1/2 (d/d0)^-1
    model = _mha(64)
    spec = parametrize(model, rules, base=_mha(16), seed=0)
    with torch.no_grad():
        model.parametrizations.in_proj_bias.original.normal_()  # make the bias count
    d, d0 = 32, 8
    s = d0**-0.5 * (d / d0) ** -1.0
    assert spec.attention[0].value == pytest.approx(s * math.sqrt(d))
    x = torch.randn(2, 5, 64)
    w = model.parametrizations.in_proj_weight.original
    b = model.parametrizations.in_proj_bias.original
    m_w, m_b = spec.param("in_proj_weight").multiplier, spec.param("in_proj_bias").multiplier
    _, probs = model(x, x, x, need_weights=True, average_attn_weights=False)
    q, k, _ = (x @ (m_w * w).T + m_b * b).split(64, dim=-1)
    heads = lambda t: t.view(2, 5, 2, d).transpose(1, 2)  # noqa: E731
    manual = torch.softmax(s * heads(q) @ heads(k).transpose(-1, -2), dim=-1)
    assert torch.allclose(probs, manual, atol=1e-6)
    weights = torch.randn_like(manual)
    g1 = torch.autograd.grad((probs * weights).sum(), w)[0]
    g2 = torch.autograd.grad((manual * weights).sum(), w)[0]
    assert torch.allclose(g1, g2, atol=1e-6)


def test_unscalable_attention_is_an_error_and_leaves_the_model_untouched():
    class MyAttention(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.qkv = nn.Linear(width, 3 * width)

        def forward(self, x):
            q, k, v = self.qkv(x).chunk(3, dim=-1)
            return torch.nn.functional.scaled_dot_product_attention(q, k, v)

    model = MyAttention(32)
    before = _state(model)
    with pytest.raises(ValueError, match=r"'' \(MyAttention\).*`scale`.*scale=self.scaling"):
        parametrize(model, abcparam.rules("mup"), base=MyAttention(16))
    assert _same(before, _state(model))
    parametrize(model, abcparam.rules("sp"), base=MyAttention(16))  # 1/sqrt(d) is SP's own


def _gpt2(width: int, tie: bool = True, device: str = "cpu"):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        n_embd=width,
        n_layer=1,
        n_head=2,
        vocab_size=64,
        n_positions=16,
        tie_word_embeddings=tie,
        bos_token_id=0,
        eos_token_id=0,
    )
    with torch.device(device):
        return GPT2LMHeadModel(config)


def test_tied_rule_is_derived_from_the_symmetry():
    mup = abcparam.rules("mup", optimizer="adam")
    rule = tied_rule(mup, ("embedding", "readout"))
    # the readout moved by theta = b_R - b_E has the embedding's b and c
    shifted = abcparam.reparametrize(mup, theta={"readout": rule.theta["readout"]})
    assert shifted["readout"].b == mup["embedding"].b and shifted["readout"].c == mup["embedding"].c
    assert rule.a["readout"] == shifted["readout"].a
    for scheme in ("sp", "u-mup"):  # LR exponents differ after the shift
        with pytest.raises(TiedWeightsError, match="tie_word_embeddings=False"):
            tied_rule(abcparam.rules(scheme, optimizer="adam"), ("embedding", "readout"))
    assert "Not realisable" in explain_tied(abcparam.rules("sp"))
    assert "readout" in explain_tied(mup)


def test_hf_gpt2_tied_weights_and_attention_scaling():
    rules = abcparam.rules("mup")
    model = _gpt2(128)
    spec = parametrize(model, rules, base=_gpt2(64, device="meta"), seed=0, fold=False)
    wte, head = model.transformer.wte, model.lm_head
    assert (
        wte.parametrizations.weight.original is head.parametrizations.weight.original
    )  # still tied
    p = spec.param("lm_head.weight")
    uses = {u.kind: u for u in p.uses}
    ratio = 2.0
    assert uses["embedding"].multiplier == pytest.approx(ratio**0.5)  # a_E = -1/2
    # readout use: n^-(a_R + theta) times 1/sqrt(base width) (its own base init over the table's)
    assert uses["readout"].multiplier == pytest.approx(ratio**-0.5 / math.sqrt(64))
    assert torch.allclose(
        head.weight, uses["readout"].multiplier * wte.parametrizations.weight.original
    )
    assert p.init_std == pytest.approx(ratio**-0.5) and p.lr_scale == pytest.approx(ratio**-0.5)
    # head size 32 -> 64: scaling s0 (d/d0)^-1
    assert model.transformer.h[0].attn.scaling == pytest.approx(32**-0.5 / 2)
    assert "=" in spec.table().splitlines()[4]  # the tied tensor's row names both uses
    untied = parametrize(_gpt2(128, tie=False), rules, base=_gpt2(64, tie=False, device="meta"))
    assert untied.param("lm_head.weight").kind == "readout"
    model = _gpt2(128)
    before = _state(model)
    with pytest.raises(TiedWeightsError, match="tie_word_embeddings=False"):
        parametrize(model, abcparam.rules("sp"), base=_gpt2(64, device="meta"))
    assert _same(before, _state(model))


def test_param_groups_merge_by_settings_and_feed_any_optimizer():
    rules = abcparam.rules("mup", optimizer="adam")
    model = MLP(512, bias=True)
    spec = parametrize(model, rules, base=128, seed=0)
    groups = param_groups(model, spec, lr=1e-2, eps=1e-8, weight_decay=0.1)
    # merged by identical settings: one group per distinct (c, eps) among the kinds present
    by_name = {n: g for g in groups for n in g["param_names"]}
    kinds = {p.kind for p in spec.params}
    assert len(groups) == len({(rules[k].c, rules[k].eps) for k in kinds}) == 2
    assert by_name["hidden.0.weight"] is by_name["hidden.1.weight"]
    assert by_name["hidden.0.weight"]["lr"] == pytest.approx(1e-2 / 4)  # c_hidden = 1
    assert by_name["hidden.0.weight"]["eps"] == pytest.approx(1e-8 / 4)  # eps_hidden = 1
    assert by_name["readout.weight"]["lr"] == pytest.approx(1e-2 / 2)  # c_readout = 1/2
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    for opt in (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW):
        opt(param_groups(model, spec, lr=1e-3, optimizer=opt))
    ada = param_groups(model, spec, lr=1e-3, eps=1e-30, optimizer="adafactor")
    assert {g["eps"][1] for g in ada} == {1e-3}
    assert sorted(g["eps"][0] for g in ada)[0] == pytest.approx(1e-30 / 4)
    torch.optim.Adafactor(ada)
    muon = param_groups(model, spec, lr=1e-3, optimizer="muon", kinds=("hidden",))
    assert all(p.ndim == 2 for g in muon for p in g["params"]) and "eps" not in muon[0]
    torch.optim.Muon(muon)
    with pytest.raises(ValueError, match="another model"):
        param_groups(MLP(512), spec, lr=1e-3)


class _SDPA(torch.nn.Module):
    """Attention through F.scaled_dot_product_attention; ``pass_scale`` decides if it passes
    its ``scale`` attribute to the kernel."""

    def __init__(self, width: int, pass_scale: bool = True, heads: int = 2):
        super().__init__()
        self.qkv, self.heads = nn.Linear(width, 3 * width), heads
        self.head_dim, self.scale, self.pass_scale = (
            width // heads,
            (width // heads) ** -0.5,
            pass_scale,
        )

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.heads, -1).transpose(1, 2) for t in self.qkv(x).chunk(3, -1))
        scale = self.scale if self.pass_scale else None
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=scale)
        return y.transpose(1, 2).reshape(B, T, C)


class _Wrapped(torch.nn.Module):
    """A module whose name does not say attention, calling SDPA with no scale."""

    def __init__(self, width: int):
        super().__init__()
        self.inner = nn.Linear(width, width)

    def forward(self, x):
        h = self.inner(x).unsqueeze(1)
        return torch.nn.functional.scaled_dot_product_attention(h, h, h).squeeze(1)


def test_sdpa_scale_reaches_the_kernel_or_is_an_error():
    rules = abcparam.rules("mup")
    x = torch.randn(2, 3, 32)
    model = _SDPA(32)
    spec = parametrize(model, rules, base=_SDPA(16), example_batch=x)
    assert (
        model.scale == pytest.approx(8**-0.5 * (16 / 8) ** -1) and spec.attention[0].attr == "scale"
    )
    for bad, match in (
        (_SDPA(32, pass_scale=False), "without scale="),
        (_Wrapped(32), "cannot set"),
    ):
        before = _state(bad)
        base = _SDPA(16, pass_scale=False) if isinstance(bad, _SDPA) else _Wrapped(16)
        with pytest.raises(ValueError, match=match):
            parametrize(bad, rules, base=base, example_batch=x)
        assert _same(before, _state(bad))


def test_depth_rules_set_branch_multipliers_and_depth_lr():
    """Rules with depth exponents: (L / base_depth)^-alpha on every residual branch, and the LR
    factor (L / base_depth)^-c_L inside blocks (outside_depth elsewhere)."""

    class Block(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.fc, self.branch_multiplier = nn.Linear(width, width), 1.0

        def forward(self, x):
            return x + self.branch_multiplier * self.fc(x)

    def net(width, depth=4):
        return nn.Sequential(nn.Linear(8, width), *(Block(width) for _ in range(depth)))

    def depth_rules(rules):  # the depth fields as the engine's depth rules carry them
        return dataclasses.replace(
            rules,
            depth_alpha=sympy.Rational(1, 2),
            outside_depth={"c": 0},
            layers={k: dataclasses.replace(r, depth={"c": 1}) for k, r in rules.layers.items()},
        )

    import dataclasses

    import sympy

    rules = depth_rules(abcparam.rules("mup"))
    model = net(64)
    with pytest.raises(ValueError, match="base_depth"):
        parametrize(model, rules, base=net(32), fold=False)
    spec = parametrize(model, rules, base=net(32), base_depth=1, fold=False)
    assert all(model[i].branch_multiplier == pytest.approx(4**-0.5) for i in range(1, 5))
    plain = abcparam.rules("mup")["hidden"].c
    assert spec.param("1.fc.weight").lr_scale == pytest.approx(2.0 ** -float(plain) * 4**-1)
    assert spec.param("0.weight").lr_scale == pytest.approx(
        2.0 ** -float(abcparam.rules("mup")["embedding"].c)
    )
