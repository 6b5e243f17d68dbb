"""Mixture-of-Experts layers in the coordinate check: the router's rule is derived as a layer whose
fan-in grows and whose fan-out (the number of experts) does not, and the recorder measures the
router (a raw F.linear matrix) and the expert banks (raw (E, out, in) parameters)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

pytest.importorskip("transformers")

import abcparam  # noqa: E402
from abcparam.coordcheck.batches import tokens  # noqa: E402
from abcparam.coordcheck.raw import raw_use  # noqa: E402
from abcparam.coordcheck.record import Recorder  # noqa: E402
from abcparam.torch import parametrize  # noqa: E402
from abcparam.torch.usage import raw_layouts  # noqa: E402
from experiments.lab.families import build  # noqa: E402

MLP = "model.layers.0.mlp"


@pytest.mark.parametrize("scheme", ["sp", "ntp", "mup", "mfp"])
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_router_rule_is_that_of_a_layer_whose_fan_in_alone_grows(scheme, optimizer):
    """Qwen2-MoE's router (raw (experts, n), read by F.linear) gets the same multiplier, init and
    learning rate as the block's shared-expert gate, an nn.Linear(n, 1): both are derived as
    layers whose fan-in grows with width while the fan-out stays fixed; the engine's readout
    exponents give the numbers (init n^-b at the base std, learning rate n^-c)."""
    rules = abcparam.rules(scheme, optimizer=optimizer)
    model = build("qwen2-moe", 128)
    spec = parametrize(
        model, rules, base=build("qwen2-moe", 32, "meta"), example_batch=tokens(0)[0], fold=False
    )
    router, linear = (
        spec.param(f"{MLP}.gate.weight"),
        spec.param(f"{MLP}.shared_expert_gate.weight"),
    )
    assert router.kind == linear.kind == "readout"
    assert "F.linear" in router.why and "only fan-in grows" in router.why
    for field in ("multiplier", "init_std", "lr_scale", "eps_scale"):
        assert getattr(router, field) == pytest.approx(getattr(linear, field)), field
    ratio = 128 / 32
    c = float(rules["readout"].c)
    assert router.lr_scale == pytest.approx(ratio**-c)
    b = float(rules["readout"].b)
    assert router.init_std == pytest.approx(32**-0.5 * ratio**-b)


def _two(width: int, raw: bool) -> nn.Module:
    """embedding -> hidden matrix (raw F.linear, or an nn.Linear) -> readout."""

    class RawMatrix(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.randn(width, width) / width**0.5)

        def forward(self, x):
            return F.linear(x, self.weight), x.sum()  # the output picked by its size

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(128, width)
            self.mid = RawMatrix() if raw else nn.Linear(width, width, bias=False)
            self.out = nn.Linear(width, 128)

        def forward(self, x):
            h = self.mid(self.emb(x))
            return self.out(torch.tanh(h[0] if isinstance(h, tuple) else h))

    return Net()


def _records(model: nn.Module, layouts) -> dict:
    x, y = tokens(0)
    layers = [("emb", "embedding"), ("mid", "hidden"), ("out", "readout")]
    rec = Recorder(model, layers, alignment=True, width=32, layouts=layouts)
    start = rec.start(x)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(2):
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = rec.measure(x, step=2)
    return {(r.layer, r.step): r for r in start + after}


def test_raw_matrix_is_recorded_as_its_linear_twin():
    """A raw (out, in) weight read by F.linear gives the same records as an nn.Linear holding the
    same weights: output, change, update and the alignment terms."""
    torch.manual_seed(0)
    raw = _two(32, raw=True)
    twin = _two(32, raw=False)
    twin.load_state_dict(raw.state_dict())
    layouts = raw_layouts(raw, tokens(0)[0])
    assert raw_use(raw.mid, "mid", layouts).form == "linear"
    got, want = _records(raw, layouts), _records(twin, None)
    for key in want:
        a, b = got[key], want[key]
        for field in ("output", "delta", "update", "input", "align_alpha", "align_omega", "fan_in"):
            va, vb = getattr(a, field), getattr(b, field)
            assert (va is None) == (vb is None), (key, field)
            if va is not None:
                assert va == pytest.approx(vb, rel=1e-4, abs=1e-7), (key, field)


class _Bank(nn.Module):
    """Experts (E, out, in), each read by F.linear on the tokens routed to it, times its gate."""

    def __init__(self, width: int, experts: int = 3) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(experts, width, width) / width**0.5)

    def forward(self, x, index, gates):
        out = torch.zeros_like(x)
        for e in range(self.w.shape[0]):
            tok, k = torch.where(index == e)
            out[tok] += F.linear(x[tok], self.w[e]) * gates[tok, k, None]
        return out


def test_expert_bank_is_measured_on_init_routing_with_unit_gates():
    """The bank's row is its experts' own output: gates set to one and the routing held at the
    first capture's, so a changed routing or gate does not enter the experts' change."""
    torch.manual_seed(0)
    bank = _Bank(16)
    x = torch.randn(10, 16)
    index0 = torch.randint(0, 3, (10, 2))
    gates = torch.rand(10, 2)
    layouts = raw_layouts(bank, (x, index0, gates))
    use = raw_use(bank, "", layouts)
    assert use is not None and use.form == "bank" and (use.in_size, use.out_size) == (16, 16)
    rec = Recorder(bank, [("", "hidden")], alignment=True, layouts=layouts)
    assert not rec.layers[0].aligned  # the products run inside the module
    (r0,) = rec.start((x, index0, gates))
    by_hand = bank(x, index0, torch.ones_like(gates))
    assert r0.output == pytest.approx(float(by_hand.detach().square().mean().sqrt()), rel=1e-5)
    # another routing and gates at the next capture: measured on init's routing, gates at one
    (r1,) = rec.measure((x, (index0 + 1) % 3, 5 * gates), step=1)
    assert r1.delta == pytest.approx(0.0, abs=1e-7) and r1.update == 0.0
    with torch.no_grad():
        bank.w.mul_(2.0)
    (r2,) = rec.measure((x, index0, gates), step=2)
    assert r2.output == pytest.approx(2 * r0.output, rel=1e-5)
    assert r2.update == pytest.approx(float(bank.w.detach().square().mean().sqrt()) / 2, rel=1e-4)


@pytest.mark.parametrize("family", ["mixtral", "qwen2-moe"])
def test_moe_family_passes_with_router_and_experts_judged(family):
    """The families loop's setting (muP + Adam, widths 64-256, 4 seeds, one step, pydoc text):
    the router and the experts are recorded, every one of their rows is judged, and all pass."""
    from abcparam.coordcheck.check import check
    from experiments.lab.families import factory

    rules = abcparam.rules("mup", optimizer="adam")
    result = check(
        factory(family), rules, tokens, widths=(64, 128, 256), steps=1, seeds=4, progress=False
    )
    assert result.unrecorded == [] and not result.incomplete
    forms = {r["name"]: r["form"] for r in result.config["raw_recorded"]}
    assert forms == {f"{MLP}.gate": "linear", f"{MLP}.experts": "bank"}
    for layer in forms:
        judged = {(f.quantity, f.step): f for f in result.judged if f.layer == layer}
        assert set(judged) == {("output", 0), ("delta", 1), ("update", 1)}, layer
        assert all(f.passed for f in judged.values()), layer
    assert result.verdict == "pass" and result.passed


def test_bloom_logit_scale_is_its_inv_norm_factor():
    """BLOOM reads its logit scale from inv_norm_factor (its ALiBi baddbmm's alpha): muP sets it
    to s0 (d/d0)^-1, and the attribute reaches the logits (changing it changes the output)."""
    rules = abcparam.rules("mup", optimizer="adam")
    model = build("bloom", 128)
    spec = parametrize(model, rules, base=build("bloom", 32, "meta"), example_batch=tokens(0)[0])
    (plan,) = spec.attention
    attn = model.transformer.h[0].self_attention
    assert plan.attr == "inv_norm_factor" and (plan.base_head_dim, plan.head_dim) == (8, 32)
    assert attn.inv_norm_factor == pytest.approx(8**-0.5 * 4.0**-1)
    x = tokens(0)[0]
    with torch.no_grad():
        before = model(x).logits
        attn.inv_norm_factor *= 4.0
        assert not torch.allclose(before, model(x).logits)
