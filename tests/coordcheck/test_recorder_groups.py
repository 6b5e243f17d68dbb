"""The recorder's batched alignment terms: layers of one shape measured together (one group of
stacked products) give each layer's own numbers, checked against direct full products and against
the layer-by-layer path on the built-in GPT."""

import math

import pytest
import torch
import torch.nn.utils.parametrize as P
from torch import nn

from abcparam.coordcheck import record
from abcparam.coordcheck.record import Recorder


class _Scale(nn.Module):
    def forward(self, w):
        return 0.5 * w


class _Fan(nn.Module):
    """Four 16 -> 16 layers reading one input: with and without bias, Hugging Face's Conv1D
    (weight stored (in, out)) and a torch parametrization multiplier: one group of four."""

    def __init__(self) -> None:
        from transformers.pytorch_utils import Conv1D

        super().__init__()
        self.first = nn.Linear(8, 16, bias=False)
        self.a = nn.Linear(16, 16)
        self.b = nn.Linear(16, 16, bias=False)
        self.c = Conv1D(16, 16)
        self.d = nn.Linear(16, 16, bias=False)
        P.register_parametrization(self.d, "weight", _Scale())

    def forward(self, x):
        h = torch.tanh(self.first(x))
        return self.a(h) + self.b(h) + self.c(h) + self.d(h)


def _rms(t):
    return float(t.pow(2).mean().sqrt())


def _matrix(layer):
    w = layer.weight.detach().clone()
    return w if isinstance(layer, nn.Linear) else w.T  # Conv1D: (in, out)


def test_grouped_layers_match_direct_products():
    """16 input rows and 16 output features: every row and feature is probed, so each recorded
    statistic is the direct product's exactly (to float32 round-off)."""
    torch.manual_seed(0)
    model = _Fan()
    names = ["a", "b", "c", "d"]
    rec = Recorder(model, [(n, "hidden") for n in names], align_rows=16)
    x = torch.randn(16, 8)
    with rec.capture():
        model(x)
    rec.start()
    assert [len(g.at) for g in rec._groups] == [4]  # one batched group
    h0 = torch.tanh(model.first(x)).detach()
    before = {n: (_matrix(getattr(model, n)), getattr(model, n)(h0).detach()) for n in names}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    got = {r.layer: r for r in rec.measure(x, step=1)}
    h1 = torch.tanh(model.first(x)).detach()
    for n in names:
        layer, (w0, z0) = getattr(model, n), before[n]
        w1, z1 = _matrix(layer), layer(h1).detach()
        alpha, omega, u = h0 @ (w1 - w0).T, (h1 - h0) @ w0.T, (h1 - h0) @ (w1 - w0).T
        r = got[n]
        assert r.delta == pytest.approx(_rms(z1 - z0), rel=1e-4), n
        assert r.update == pytest.approx(_rms(w1 - w0), rel=1e-4), n
        assert r.term_alpha == pytest.approx(_rms(alpha), rel=1e-4), n
        assert r.term_omega == pytest.approx(_rms(omega), rel=1e-4), n
        assert r.term_u == pytest.approx(_rms(u), rel=1e-3), n
        cos = float(torch.nn.functional.cosine_similarity(alpha.flatten(), omega.flatten(), dim=0))
        assert r.cos_alpha_omega == pytest.approx(cos, abs=1e-4), n
        assert r.align_alpha == pytest.approx(_rms(alpha) / (_rms(w1 - w0) * _rms(h0)), rel=1e-4)


def _gpt_records(batched: bool, monkeypatch) -> list:
    from abcparam.coordcheck import run_coord_check

    if not batched:  # every aligned layer measured on its own (the convolution's path)
        monkeypatch.setattr(record._Layer, "batched", lambda self: False)
    result = run_coord_check("transformer", widths=(64, 256), steps=2, seeds=1, progress=False)
    monkeypatch.undo()
    return result.records


def test_grouped_equals_layer_by_layer_on_the_gpt(monkeypatch):
    """The built-in GPT (multipliers, readout of another shape, widths with sketch strides 1 and
    2): every recorded number of the batched path equals the layer-by-layer one."""
    grouped, single = _gpt_records(True, monkeypatch), _gpt_records(False, monkeypatch)
    assert len(grouped) == len(single) > 0
    compared = 0
    for g, s in zip(grouped, single):
        assert (g.layer, g.step, g.width) == (s.layer, s.step, s.width)
        for key, value in s.to_json(strict=False).items():
            other = g.to_json(strict=False)[key]
            if isinstance(value, float) and math.isfinite(value):
                # a cosine is a ratio of float32 sums: near 0 its error is absolute, ~1e-7 (the
                # two paths' matrix products round differently on another CPU's kernels)
                near = 1e-6 if key.startswith("cos_") else 1e-7
                assert other == pytest.approx(value, rel=1e-5, abs=near), (g.layer, key)
                compared += 1
            else:
                assert other == value or (value != value and other != other), (g.layer, key)
    assert compared > 100
