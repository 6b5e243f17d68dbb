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
from abcparam.experiments.families import FAMILIES, build, try_family  # noqa: E402
from abcparam.torch import parametrize  # noqa: E402
from abcparam.torch.shapes import UnsupportedLayerError  # noqa: E402

#: families whose attention computes its own logit scale: refused under muP
REFUSED = {"falcon", "bloom"}
#: a fast subset covering each case: head size by another name, MoE, encoder, refusal
FAST = ("gpt-neox", "bert", "falcon")


def _assert_row(family: str, row: dict) -> None:
    if family in REFUSED:
        assert row["status"] == "refused", row
        assert "\n" not in row["why"] and "unsupported attention" in row["why"], row
        assert "ignore_attention" not in row["why"]  # no option check() does not accept
    else:
        assert row["status"] == "handled", row
        assert row["verdict"] in ("pass", "fail", "incomplete") and row["fits"] > 0, row


@pytest.mark.parametrize("family", FAST)
def test_family_fast_subset(family):
    _assert_row(family, try_family(family, widths=(32, 64)))


@pytest.mark.slow
@pytest.mark.parametrize("family", [f for f in FAMILIES if f not in FAST])
def test_every_family(family):
    _assert_row(family, try_family(family, widths=(32, 64)))


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
    spec = parametrize(model, rules, base=base, example_batch=x)
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
    """The experts (raw parameters) cannot be recorded: listed, and the verdict is not pass."""
    from abcparam.coordcheck.check import check

    rules = abcparam.rules("mup", optimizer="adam")
    result = check(
        lambda w: build("mixtral", w), rules, tokens, widths=(32, 64), steps=1, seeds=1,
        progress=False,
    )  # fmt: skip
    names = {u["name"]: u["kind"] for u in result.unrecorded}
    assert names == {"model.layers.0.mlp.gate": "readout", "model.layers.0.mlp.experts": "hidden"}
    assert result.incomplete and not result.passed
    assert result.summary()["verdict"] in ("incomplete", "fail")
    assert result.to_dict()["config"]["unrecorded"][0]["why"]
