"""Measure the raw-gradient RMS per layer kind on a built-in model (for ``abcparam epsilon``).

sqrt(v) in Adam tracks the RMS of the gradient of the trainable ``w`` (not of the effective
weight ``n^-a w``); this measures it at init on a seeded batch, the quantity whose width exponent
is the rules' ``eps`` (Everett et al. 2024, "Adam epsilon").

A lookup table (token or position embedding) gets a gradient only in the rows of the tokens
present in the batch; Adam's update of an absent row is zero whatever eps is, so the statistic
that meets eps is the RMS over the present rows (an RMS over every entry understates it by the
square root of the present fraction).
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch
import torch.nn.functional as F
from torch import nn

from ..engine.rules_table import Rules
from .apply import parametrize
from .models import build_model


def lookup_tables(model: nn.Module) -> set[str]:
    """Names of the weights of the model's lookup tables (``nn.Embedding``: sparse gradients)."""
    return {f"{name}.weight" for name, m in model.named_modules() if isinstance(m, nn.Embedding)}


def seen_entries(name: str, grad: torch.Tensor, lookups: set[str]) -> torch.Tensor:
    """The gradient entries Adam sees: of a lookup table, the rows present in the batch (those
    with a nonzero gradient); of any other tensor, every entry."""
    if name in lookups and grad.dim() == 2:
        return grad[grad.ne(0).any(dim=1)]
    return grad


def gradient_rms(model, spec, x, y) -> dict[str, float]:
    """RMS of the gradient per layer kind, over the entries Adam sees (:func:`seen_entries`)."""
    model.zero_grad(set_to_none=True)
    logits = model(x)
    F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).backward()
    lookups = lookup_tables(model)
    sums: defaultdict[str, float] = defaultdict(float)
    counts: defaultdict[str, int] = defaultdict(int)
    for p in spec.params:
        g = spec.tensors[p.name].grad
        if g is None:
            continue
        seen = seen_entries(p.name, g, lookups)
        sums[p.kind] += seen.double().pow(2).sum().item()
        counts[p.kind] += seen.numel()
    return {kind: math.sqrt(sums[kind] / counts[kind]) for kind in sums if counts[kind]}


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
    rules: Rules, model: str = "mlp", base_width: int = 256, seed: int = 0
) -> dict[str, float]:
    """Raw-gradient RMS per layer kind of the built-in ``model`` at ``base_width``, at init."""
    torch.manual_seed(seed)
    net = build(model, base_width)
    spec = parametrize(net, rules, base_width=base_width, seed=seed)
    x, y = probe_batch(model, seed)
    return gradient_rms(net, spec, x, y)
