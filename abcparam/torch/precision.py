"""Measure every tensor role a low-precision format must hold: its RMS and the fraction it loses.

One training step of a built-in model is watched layer by layer (ScaledLinear / ScaledEmbedding):
the trainable weight w, the effective weight n^-a w, the input and output of the matmul, the
gradients with respect to output, input and w, the step taken by w, and Adam's moments.  Each
tensor is cast to a format (float8 casts run on the CPU) and compared with the original: the
fraction of its nonzero entries that become 0 ("underflow") and that lie beyond the format's
largest finite value ("overflow", clamped or inf).  Exact zeros (ReLU) are left out of both the
fraction and the RMS, so a rectified Gaussian is judged by the Gaussian it was cut from.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..engine.formats import get_format
from ..engine.rules_table import Rules
from ..engine.schemes import get_scheme
from .apply import build_optimizer, parametrize
from .gradient_rms import probe_batch
from .layers import ScaledEmbedding, ScaledLinear
from .lowp import cast, res_post_ln, unit_scale, unit_scaled_constants
from .models import GPT, build_model

MATRIX_KINDS = ("embedding", "hidden", "readout")
#: histogram of log2|x| of the nonzero entries: bins of 1/8 octave over [LOG2_LO, LOG2_HI)
LOG2_LO, LOG2_HI, LOG2_BINS = -64, 32, 768
#: larger tensors are judged on this many entries drawn with a fixed seed (sd of a fraction p:
#: sqrt(p / 2^20), e.g. 3e-5 at p = 1e-3)
MAX_ENTRIES = 2**20


@torch.no_grad()
def tensor_stats(t: torch.Tensor, formats: Iterable[str], histogram: bool = False) -> dict:
    """RMS (all entries and nonzero ones) and, per format, the underflow / overflow fractions of
    the nonzero entries; ``histogram`` adds the counts of log2|x| (``LOG2_*`` bins), the tensor's
    shape for a prediction that does not assume a Gaussian."""
    t = t.detach().float().reshape(-1)
    numel = t.numel()
    if numel > MAX_ENTRIES:
        g = torch.Generator().manual_seed(0)
        t = t[torch.randint(0, numel, (MAX_ENTRIES,), generator=g)]
    nonzero = t != 0
    count = int(nonzero.sum())
    out: dict[str, Any] = {
        "numel": numel,
        "rms": math.sqrt(t.double().pow(2).mean().item()) if t.numel() else 0.0,
        "nonzero_fraction": count / max(t.numel(), 1),
        "rms_nonzero": math.sqrt(t[nonzero].double().pow(2).mean().item()) if count else 0.0,
    }
    if histogram:
        logs = t[nonzero].abs().log2().clamp(LOG2_LO, LOG2_HI - 1e-3)
        hist = torch.histc(logs, bins=LOG2_BINS, min=LOG2_LO, max=LOG2_HI)
        out["log2_hist"] = [int(c) for c in hist.tolist()]
    for name in formats:
        f = get_format(name)
        if count == 0:
            out[f.name] = {"underflow": None, "overflow": None}
            continue
        kept = t[nonzero]
        lost = int((cast(kept, f.name) == 0).sum())
        beyond = int((kept.abs() > f.max).sum())
        out[f.name] = {"underflow": lost / count, "overflow": beyond / count}
    return out


def matrix_layers(model: nn.Module) -> list[tuple[str, Any]]:
    """(name, module) of every abc matrix layer of a model, in registration order."""
    return [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, (ScaledLinear, ScaledEmbedding))
        and getattr(m, "abc_kind", None) in MATRIX_KINDS
    ]


def record_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[], torch.Tensor],
    formats: Iterable[str] = ("e4m3", "e5m2"),
    histogram: bool = False,
) -> tuple[dict[str, dict[str, dict]], float]:
    """Run one training step (``loss_fn`` does the forward pass); return, per matrix layer and
    tensor role, :func:`tensor_stats`, and the loss.  The step is taken: the model trains on."""
    formats = tuple(formats)
    layers = matrix_layers(model)
    stats: dict[str, dict[str, dict]] = {name: {} for name, _ in layers}
    handles = []

    def forward_hook(name):
        def hook(module, inputs, output):
            x = inputs[0]
            if x.is_floating_point():
                stats[name]["input"] = tensor_stats(x, formats, histogram)
                if x.requires_grad:
                    x.register_hook(_grad_hook(name, "grad_input"))
            stats[name]["output"] = tensor_stats(output, formats, histogram)
            if output.requires_grad:
                output.register_hook(_grad_hook(name, "grad_output", module.multiplier))

        return hook

    def _grad_hook(name, role, multiplier=None):
        def hook(grad):
            stats[name][role] = tensor_stats(grad, formats, histogram)
            if multiplier is not None:  # the gradient of x w^T, before the static scale
                stats[name]["grad_matmul"] = tensor_stats(grad * multiplier, formats, histogram)

        return hook

    for name, module in layers:
        handles.append(module.register_forward_hook(forward_hook(name)))
    try:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
    finally:
        for h in handles:
            h.remove()
    before = {}
    for name, module in layers:
        w = module.weight
        stats[name]["weight"] = tensor_stats(w, formats, histogram)
        stats[name]["effective_weight"] = tensor_stats(w * module.multiplier, formats, histogram)
        if w.grad is not None:
            stats[name]["grad_weight"] = tensor_stats(w.grad, formats, histogram)
        before[name] = w.detach().clone()
    optimizer.step()
    for name, module in layers:
        w = module.weight
        stats[name]["update"] = tensor_stats(w.detach() - before[name], formats, histogram)
        state = optimizer.state.get(w, {})
        if "exp_avg" in state:
            stats[name]["adam_m"] = tensor_stats(state["exp_avg"], formats, histogram)
        if "exp_avg_sq" in state:
            v = state["exp_avg_sq"]
            stats[name]["adam_v"] = tensor_stats(v, formats, histogram)
            stats[name]["adam_sqrt_v"] = tensor_stats(v.sqrt(), formats, histogram)
    return stats, float(loss.detach())


def build(
    model_name: str,
    width: int,
    rules: Rules,
    base_width: int,
    seed: int = 0,
    unit: bool | None = None,
    **kwargs,
):
    """A built-in model ("mlp" or "transformer") parametrised by ``rules`` the way its scheme
    defines it: res-post-LN blocks when the scheme names them, unit-scaled constants when every
    matrix has unit init (b = 0; ``unit`` forces it on or off).  Returns (model, spec); build the
    optimizer from the spec."""
    architecture = get_scheme(rules.scheme).architecture if rules.scheme else ()
    torch.manual_seed(seed)
    model = build_model(model_name, width, **kwargs)
    if isinstance(model, GPT) and any(a.startswith("res-post-ln") for a in architecture):
        res_post_ln(model)
    spec = parametrize(model, rules, base_width=base_width, seed=seed)
    if unit_scaled_constants(rules) if unit is None else unit:
        unit_scale(model, spec)
    return model, spec


def base_rms(
    rules: Rules, model_name: str = "mlp", base_width: int = 128, seed: int = 0, lr: float = 1e-3
) -> dict[tuple[str, str, str], float]:
    """RMS of the nonzero entries of every (layer, kind, role) of a built-in model at
    ``base_width``, from one step on a seeded probe batch: the constant in front of the width
    power law."""
    model, spec = build(model_name, base_width, rules, base_width, seed)
    x, y = probe_batch(model_name, seed)
    opt = build_optimizer(model, spec, lr=lr)

    def loss_fn():
        out = model(x)
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))

    stats, _ = record_step(model, opt, loss_fn, formats=())
    kinds: dict[str, str] = {name: str(m.abc_kind) for name, m in matrix_layers(model)}
    return {
        (layer, kinds[layer], role): s["rms_nonzero"]
        for layer, roles in stats.items()
        for role, s in roles.items()
    }


def histogram_fraction(hist: list[int], threshold: float, below: bool = True) -> float:
    """Fraction of a ``log2_hist`` with |x| <= threshold (``below``) or > threshold, linear in
    log2 inside the bin that holds the threshold."""
    total = sum(hist)
    if total == 0:
        return 0.0
    width = (LOG2_HI - LOG2_LO) / LOG2_BINS
    pos = (math.log2(threshold) - LOG2_LO) / width if threshold > 0 else -1.0
    if pos <= 0:
        under = 0.0
    elif pos >= len(hist):
        under = float(total)
    else:
        i = int(pos)
        under = sum(hist[:i]) + hist[i] * (pos - i)
    frac = under / total
    return frac if below else 1.0 - frac
