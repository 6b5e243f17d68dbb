"""Every decoder and encoder family transformers builds from a small config: parametrize plus a
one-step coordinate check runs, or a one-line error names what is unsupported and why."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

pytest.importorskip("transformers")

import abcparam  # noqa: E402
from abcparam.coordcheck.batches import tokens  # noqa: E402
from abcparam.torch import param_groups, parametrize  # noqa: E402
from abcparam.torch.shapes import UnsupportedLayerError  # noqa: E402
from experiments.lab.families import FAMILIES, build, try_family  # noqa: E402

#: Falcon's rotary attention calls SDPA at its default scale, its query fused with k and v:
#: refused under muP (BLOOM's inv_norm_factor reaches its logits: handled)
REFUSED = {"falcon"}
#: a fast subset covering each case: head size by another name, MoE, encoder, refusal
FAST = ("gpt-neox", "bert", "falcon")


def _assert_row(family: str, row: dict) -> None:
    if family in REFUSED:
        assert row["status"] == "refused", row
        assert "\n" not in row["why"] and "unsupported attention" in row["why"], row
        assert "ignore_attention" not in row["why"]  # no option check() does not accept
        assert "scaled_dot_product_attention" in row["why"] and "query_key_value" in row["why"]
    else:
        assert row["status"] == "handled", row
        assert row["verdict"] in ("pass", "fail", "incomplete") and row["fits"] > 0, row
        assert row["unrecorded"] == [], row  # every family's layers are measured
    if family in ("mixtral", "qwen2-moe"):  # router and experts: raw parameters, recorded
        assert set(row["raw_recorded"]) == {"model.layers.0.mlp.gate", "model.layers.0.mlp.experts"}


@pytest.mark.parametrize("family", FAST)
def test_family_fast_subset(family):
    _assert_row(family, try_family(family, widths=(32, 64, 128)))


@pytest.mark.slow
@pytest.mark.parametrize("family", [f for f in FAMILIES if f not in FAST])
def test_every_family(family):
    _assert_row(family, try_family(family, widths=(32, 64, 128)))


def test_head_size_by_other_names():
    """GPT-NeoX says head_size, BERT attention_head_size: both get d_head^-1 under muP."""
    rules = abcparam.rules("mup", optimizer="adam")
    for family, attr in (("gpt-neox", "head_size"), ("bert", "attention_head_size")):
        spec = parametrize(build(family, 64), rules, base=build(family, 32, "meta"))
        assert spec.attention, family
        for plan in spec.attention:
            assert (plan.base_head_dim, plan.head_dim) == (8, 16)
            assert plan.value == pytest.approx(8**-0.5 * 2**-1.0)  # s0 (d/d0)^-1


def test_moe_router_and_experts_follow_the_forward():
    """Mixtral's router (F.linear(x, W), W stored (experts, n)) is a readout; its experts' fan-in
    is the hidden size, not experts x 2I; without a forward pass the layout is not guessed."""
    rules = abcparam.rules("mup", optimizer="adam")
    x = tokens(0)[0]
    model, base = build("mixtral", 64), build("mixtral", 32, "meta")
    spec = parametrize(model, rules, base=base, example_batch=x, fold=False)  # b as the rules say
    router = spec.param("model.layers.0.mlp.gate.weight")
    assert router.kind == "readout"
    assert router.init_std == pytest.approx(32**-0.5 * 2.0 ** -float(rules["readout"].b))
    up = spec.param("model.layers.0.mlp.experts.gate_up_proj")  # (E, 2I, n) used on x (n)
    down = spec.param("model.layers.0.mlp.experts.down_proj")  # (E, n, I) used on I
    assert up.kind == down.kind == "hidden"
    b = 2.0 ** -float(rules["hidden"].b)
    assert up.init_std == pytest.approx(32**-0.5 * b)
    assert down.init_std == pytest.approx(64**-0.5 * b)  # I = 2 x 32 at the base
    with pytest.raises(ValueError, match="example_batch="):
        parametrize(build("mixtral", 64), rules, base=base)


def test_raw_linear_weight_layout_is_read_from_its_use():
    """A raw (out, in) weight used by F.linear: the readout of fixed fan-out, whatever its name."""

    class Net(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.inp = nn.Linear(8, width)
            self.w = nn.Parameter(torch.randn(3, width))  # F.linear: (out, in)
            self.v = nn.Parameter(torch.randn(width, 3))  # x @ v: (in, out)

        def forward(self, x):
            h = self.inp(x)
            return F.linear(h, self.w) + h @ self.v

    rules = abcparam.rules("mup", optimizer="adam")
    spec = parametrize(Net(64), rules, base=Net(32), example_batch=torch.randn(4, 8))
    assert spec.kinds["w"] == spec.kinds["v"] == "readout"


def test_recurrent_layers_are_refused_clearly():
    class Tagger(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.emb, self.rnn = nn.Embedding(16, width), nn.LSTM(width, width, batch_first=True)
            self.head = nn.Linear(width, 16)

        def forward(self, x):
            return self.head(self.rnn(self.emb(x))[0])

    rules = abcparam.rules("mup", optimizer="adam")
    with pytest.raises(UnsupportedLayerError, match=r"'rnn' is nn.LSTM.*nn.Linear"):
        parametrize(Tagger(64), rules, base=Tagger(32))
    model = Tagger(64)
    model.rnn.requires_grad_(False)  # a frozen recurrent layer is left as it is
    spec = parametrize(model, rules, base=Tagger(32))
    assert "rnn.weight_hh_l0" in spec.frozen


def test_unrecorded_hidden_layers_make_the_check_incomplete():
    """A hidden module of two raw matrices (x @ A @ B) is neither one raw matrix nor an expert
    bank, so the recorder cannot measure it: listed, and the verdict is not pass."""
    from abcparam.coordcheck.check import check

    class Pair(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.a = nn.Parameter(torch.randn(width, width) / width**0.5)
            self.b = nn.Parameter(torch.randn(width, width) / width**0.5)

        def forward(self, x):
            return torch.tanh(x @ self.a) @ self.b

    class Net(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.emb, self.pair = nn.Embedding(128, width), Pair(width)
            self.head = nn.Linear(width, 128)

        def forward(self, x):
            return self.head(self.pair(self.emb(x)))

    rules = abcparam.rules("mup", optimizer="adam")
    result = check(Net, rules, tokens, widths=(32, 64, 128), steps=1, seeds=1, progress=False)
    names = {u["name"]: u["kind"] for u in result.unrecorded}
    assert names == {"pair": "hidden"}
    assert result.incomplete and not result.passed
    assert result.summary()["verdict"] in ("incomplete", "fail")
    assert result.to_dict()["config"]["unrecorded"][0]["why"]


def test_gemma_embedding_scale_is_held_at_the_base_value():
    """Gemma multiplies embeddings by sqrt(hidden): held at the base's sqrt(32) at width 64."""
    rules = abcparam.rules("mup", optimizer="adam")
    model = build("gemma", 64)
    spec = parametrize(model, rules, base=build("gemma", 32, "meta"))
    (plan,) = spec.constants
    assert plan.attr == "embed_scale" and plan.value == pytest.approx(8.0)
    assert float(model.model.embed_tokens.embed_scale) == pytest.approx(32**0.5)
    assert "held at the base value" in spec.table()


def test_fixed_size_kinds_go_to_the_plans_default_optimizer():
    """A bias of fixed size (3 classes) is a scalar: AdamW in 'hidden=muon,default=adamw'."""

    class Net(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.a, self.b, self.c = (
                nn.Linear(8, width),
                nn.Linear(width, width),
                nn.Linear(width, 3),
            )

        def forward(self, x):
            return self.c(self.b(self.a(x)))

    rules = abcparam.rules("mup", optimizer="hidden=muon,default=adamw")
    model = Net(64)
    spec = parametrize(model, rules, base=Net(32))
    groups = {
        n: g["optimizer"] for g in param_groups(model, spec, lr=1e-3) for n in g["param_names"]
    }
    assert spec.kinds["c.bias"] == "scalar" and groups["c.bias"] == "adamw"
    assert groups["b.weight"] == "muon"
    assert set(groups.values()) == {"muon", "adamw"}


def test_muon_orthogonalises_convolution_filters_as_matrices():
    """Muon on a CNN: the filters (out, in, 3, 3) step as (out, 9 in) matrices; the loss falls."""
    from abcparam.coordcheck.batches import images
    from abcparam.torch import build_optimizer
    from abcparam.torch.optim import Muon, _orthogonalise, as_matrix
    from abcparam.torch.zoo import cnn

    assert as_matrix((16, 8, 3, 3)) == (16, 72)
    conv = nn.Conv2d(4, 6, 3)
    opt = Muon([conv.weight], lr=0.1, weight_decay=0.0, adjust_lr_fn="original")
    conv(torch.randn(2, 4, 5, 5)).square().mean().backward()
    before, grad = conv.weight.detach().clone(), conv.weight.grad.reshape(6, 36)
    opt.step()
    group = opt.param_groups[0]
    ortho = _orthogonalise(grad, group["ns_coefficients"], group["ns_steps"], group["eps"])
    step = (conv.weight.detach() - before).reshape(6, 36)
    assert torch.allclose(step, -0.1 * ortho, atol=1e-6)  # factor sqrt(max(1, 6/36)) = 1
    singular = torch.linalg.svdvals(ortho)  # Newton-Schulz: every singular value near 1
    assert 0.5 < singular.min() and singular.max() < 1.5
    with pytest.raises(ValueError, match="has none"):
        Muon([nn.Parameter(torch.zeros(3))], lr=0.1)
    rules = abcparam.rules("mup", optimizer="muon")
    model = cnn(32)
    spec = parametrize(model, rules, base=cnn(16, device="meta"))
    opt = build_optimizer(model, spec, lr=1e-2)
    x, y = images(0)
    losses = []
    for _ in range(3):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
