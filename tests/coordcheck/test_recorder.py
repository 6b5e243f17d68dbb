"""The recorder on any module type, checked against a direct computation; the results schema."""

import json
import math

import pytest
import torch
import torch.nn.utils.parametrize as P
from torch import nn

from abcparam.coordcheck import schema
from abcparam.coordcheck.record import Recorder
from abcparam.coordcheck.schema import Fit, Record


class _Scale(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, w):
        return w * self.m


def _rms(t):
    return float(t.pow(2).mean().sqrt())


def _direct(layer_in0, layer_in1, w0, w1, z0, z1):
    """Independent reference: the three terms by full products on every row."""
    alpha = layer_in0 @ (w1 - w0).T
    omega = (layer_in1 - layer_in0) @ w0.T
    u = (layer_in1 - layer_in0) @ (w1 - w0).T
    return {
        "output": _rms(z1),
        "delta": _rms(z1 - z0),
        "update": _rms(w1 - w0),
        "term_alpha": _rms(alpha),
        "term_omega": _rms(omega),
        "term_u": _rms(u),
    }


@pytest.mark.parametrize("kind", ["linear", "parametrized", "hf_conv1d"])
def test_recorder_matches_direct_products(kind):
    """A two-layer net whose second layer is an nn.Linear, an nn.Linear with a torch
    parametrization multiplier 0.5, or Hugging Face's Conv1D (weight (in, out)); with 16 input
    rows and 16 output features all rows are probed, so every statistic is exact."""
    torch.manual_seed(0)
    first = nn.Linear(8, 16, bias=False)
    if kind == "hf_conv1d":
        from transformers.pytorch_utils import Conv1D

        second = Conv1D(16, 16)
    else:
        second = nn.Linear(16, 16, bias=True)
        if kind == "parametrized":
            P.register_parametrization(second, "weight", _Scale(0.5))
    model = nn.Sequential(first, nn.Tanh(), second)
    x = torch.randn(16, 8)
    rec = Recorder(model, [("0", "embedding"), ("2", "hidden")], alignment=True, align_rows=16)

    def eff(module):
        w = module.weight.detach().clone()
        return w.T if kind == "hf_conv1d" else w

    with rec.capture():
        model(x)
    start = rec.start()
    h0 = torch.tanh(first(x)).detach()
    w0, z0 = eff(second), second(h0).detach()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    got = {r.layer: r for r in rec.measure(x, step=1)}["2"]
    h1 = torch.tanh(first(x)).detach()
    want = _direct(h0, h1, w0, eff(second), z0, second(h1).detach())
    for key, value in want.items():
        assert getattr(got, key) == pytest.approx(value, rel=1e-4), key
    assert got.fan_in == 16 and start[1].input == pytest.approx(_rms(h0), rel=1e-5)
    assert got.align_omega == pytest.approx(
        want["term_omega"] / (_rms(w0) * _rms(h1 - h0)), rel=1e-4
    )


def test_recorder_on_a_convolution_counts_the_kernel_area():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 8, 3, padding=1)
    model = nn.Sequential(nn.Conv2d(2, 3, 1), nn.ReLU(), conv)
    x = torch.randn(4, 2, 6, 6)
    rec = Recorder(model, [("0", "embedding"), ("2", "hidden")], align_rows=4)
    with rec.capture():
        model(x)
    rec.start()
    w0 = conv.weight.detach().clone()
    with torch.no_grad():
        conv.weight.add_(0.05 * torch.randn_like(conv.weight))
    got = {r.layer: r for r in rec.measure(x, step=1)}["2"]
    assert got.fan_in == 27
    alpha = torch.nn.functional.conv2d(torch.relu(model[0](x)), conv.weight - w0, padding=1)
    assert got.term_alpha == pytest.approx(_rms(alpha), rel=1e-4)
    assert got.term_omega == pytest.approx(0.0, abs=1e-7)  # the input did not change


def test_unrecordable_module_is_a_clear_error():
    model = nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2))
    with pytest.raises(TypeError, match="'1' is a LayerNorm"):
        Recorder(model, [("1", "hidden")])
    with pytest.raises(ValueError, match="no module named 'nope'"):
        Recorder(model, [("nope", "hidden")])


def test_schema_writes_validates_and_documents():
    rec = Record(64, 0, 1, "h", "hidden", 1.0, float("nan"), 0.1, fan_in=64)
    fit = Fit("h", "hidden", "delta", 1, 0.1, 0.01, 0.0, 0.0, 0.0, None, True, True, True, True)
    assert fit["pass"] is True and rec.get("align_u") is None and "fan_in" in rec
    assert rec.to_json()["delta"] is None  # strict JSON
    payload = {key: [] for key, _, _ in schema.TOP}
    payload.update(config={}, versions={}, summary={})
    payload["records"] = [rec.to_json()]
    payload["fits"] = [fit.to_json()]
    schema.validate(json.loads(json.dumps(payload, allow_nan=False)))
    assert math.isnan(float("nan")) and schema.load(payload)["records"][0] == Record(
        64, 0, 1, "h", "hidden", 1.0, None, 0.1, fan_in=64
    )
    bad = json.loads(json.dumps(payload))
    bad["fits"][0]["step"] = "one"
    with pytest.raises(ValueError, match=r"fits\[0\].step = 'one'"):
        schema.validate(bad)
    del bad["records"]
    with pytest.raises(ValueError, match="lacks"):
        schema.validate(bad)
    text = schema.describe()
    assert "`pass` (bool)" in text and "`term_u`" in text


def test_readme_schema_is_the_generated_one():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert schema.describe() in readme, "regenerate: python -m abcparam.coordcheck.schema"
