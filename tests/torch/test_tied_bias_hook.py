"""A tied bias of multiplier 1 must not remove the tied weight's multiplier from the same layer
(BERT ties its decoder's weight to the word embeddings and its bias to ``cls.predictions.bias``:
the bias's plan used to drop the weight's output hook, leaving the readout unscaled)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from abcparam.torch.checkpoint import multiplier_of, set_use_multiplier


def test_a_unit_bias_use_keeps_the_weight_hook():
    torch.manual_seed(0)
    layer = nn.Linear(8, 5)
    x = torch.randn(3, 8)
    set_use_multiplier(layer, "weight", 0.25)
    set_use_multiplier(layer, "bias", 1.0)  # the tied bias's own plan, applied after the weight's
    assert multiplier_of(layer) == pytest.approx(0.25)
    want = nn.functional.linear(x, layer.weight * 0.25, layer.bias)
    assert torch.allclose(layer(x), want, atol=1e-6)


def test_a_unit_weight_use_removes_the_hook():
    torch.manual_seed(0)
    layer = nn.Linear(8, 5)
    x = torch.randn(3, 8)
    set_use_multiplier(layer, "weight", 0.25)
    set_use_multiplier(layer, "weight", 1.0)
    assert torch.allclose(layer(x), nn.functional.linear(x, layer.weight, layer.bias))
