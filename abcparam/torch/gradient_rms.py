"""Measure the raw-gradient RMS per layer kind on a built-in model (for ``abcparam epsilon``).

sqrt(v) in Adam tracks the RMS of the gradient of the trainable ``w`` (not of the effective
weight ``n^-a w``); this measures it at init on a seeded batch, the quantity whose width exponent
is the rules' ``eps`` (Everett et al. 2024, "Adam epsilon").
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch
import torch.nn.functional as F

from .apply import parametrize
from .models import build_model


def gradient_rms(model, spec, x, y) -> dict[str, float]:
    """RMS of the gradient of every parameter, pooled per layer kind."""
    model.zero_grad(set_to_none=True)
    logits = model(x)
    F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).backward()
    sums: defaultdict[str, float] = defaultdict(float)
    counts: defaultdict[str, int] = defaultdict(int)
    for p in spec.params:
        g = spec.tensors[p.name].grad
        if g is None:
            continue
        sums[p.kind] += g.double().pow(2).sum().item()
        counts[p.kind] += g.numel()
    return {kind: math.sqrt(sums[kind] / counts[kind]) for kind in sums}


def probe_batch(model_name: str, seed: int = 0, batch: int = 64):
    g = torch.Generator().manual_seed(seed)
    if model_name == "mlp":
        return torch.randn(batch, 32, generator=g), torch.randint(0, 10, (batch,), generator=g)
    tokens = torch.randint(0, 65, (max(batch // 8, 1), 33), generator=g)
    return tokens[:, :-1], tokens[:, 1:]


def build(model_name: str, width: int):
    """The built-in model at its default size (see :func:`abcparam.torch.models.build_model`)."""
    return build_model(model_name, width)


def base_gradient_rms(
    rules, model: str = "mlp", base_width: int = 256, seed: int = 0
) -> dict[str, float]:
    """Raw-gradient RMS per layer kind of the built-in ``model`` at ``base_width``, at init."""
    torch.manual_seed(seed)
    net = build(model, base_width)
    spec = parametrize(net, rules, base_width=base_width, seed=seed)
    x, y = probe_batch(model, seed)
    return gradient_rms(net, spec, x, y)
