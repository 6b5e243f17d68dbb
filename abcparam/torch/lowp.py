"""Simulated low-precision training: quantised hidden matmuls, unit-scaled constants, res-post-LN.

- :func:`quantize_hidden` makes every hidden ScaledLinear compute ``q(x) @ q(w)^T`` with inputs
  and weights rounded to a forward format (e4m3) and the incoming gradient rounded to a backward
  format (e5m2), the product in fp32 and the multiplier n^-a applied afterwards as a static scale
  — μnit Scaling's recipe (Narayan et al. 2025, Sec. 3) with no dynamic scale factors.
- :func:`unit_scale` moves the base-width init constant of every matrix into its multiplier, so
  the trainable w has RMS 1 (u-μP / μnit Scaling's unit init, Blake et al. 2024 Sec. 4) while
  the function, and Adam's trajectory, stay those of the tuned base model (the abc-symmetry at
  fixed width: w -> w/s, multiplier x s, Adam LR / s, eps x s; TP-V Lemma J.1).
- :func:`res_post_ln` turns a GPT's pre-LN blocks into res-post-LN ones, ``x + norm(f(x))``.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..engine.formats import get_format
from ..engine.rules_table import Rules
from .layers import ScaledEmbedding, ScaledLayerNorm, ScaledLinear
from .models import GPT, Block


def cast(t: torch.Tensor, fmt: str) -> torch.Tensor:
    """``t`` rounded to format ``fmt`` and back to its own dtype (round to nearest even)."""
    dtype = getattr(torch, get_format(fmt).torch_dtype)
    return t.to(dtype).to(t.dtype)


class QuantizedMatmul(torch.autograd.Function):
    """``y = q_f(x) @ q_f(w)^T``; backward rounds ``s * dL/dy`` to ``q_b`` (s: a static backward
    scale, 1 by default), divides s out again and uses the rounded x, w."""

    @staticmethod
    def forward(ctx, x, w, fwd: str, bwd: str, bwd_scale: float = 1.0):
        xq, wq = cast(x, fwd), cast(w, fwd)
        ctx.save_for_backward(xq, wq)
        ctx.bwd, ctx.bwd_scale = bwd, bwd_scale
        return F.linear(xq, wq)

    @staticmethod
    def backward(ctx, grad):
        xq, wq = ctx.saved_tensors
        gq = cast(grad * ctx.bwd_scale, ctx.bwd) / ctx.bwd_scale
        grad_x = gq @ wq
        grad_w = gq.reshape(-1, gq.shape[-1]).t() @ xq.reshape(-1, xq.shape[-1])
        return grad_x, grad_w, None, None, None


def _quantized_forward(self: ScaledLinear, x: torch.Tensor) -> torch.Tensor:
    scale = getattr(self, "lowp_backward_scale", 1.0)
    y = QuantizedMatmul.apply(x, self.weight, self.lowp_forward, self.lowp_backward, scale)
    y = y * self.multiplier
    if self.bias is not None:
        y = y + self.bias * self.bias_multiplier
    return y


def quantize_hidden(
    model: nn.Module,
    forward: str = "e4m3",
    backward: str = "e5m2",
    backward_scales: dict[str, float] | None = None,
) -> int:
    """Make every hidden ScaledLinear of ``model`` quantise its matmul; returns how many.
    ``backward_scales`` maps module names to a static scale for the gradient before its cast."""
    cast(torch.zeros(1), forward), cast(torch.zeros(1), backward)  # validate the names
    count = 0
    for name, module in model.named_modules():
        if isinstance(module, ScaledLinear) and module.abc_kind == "hidden":
            # assignment: torch's stubs type nn.Module.__setattr__'s value as Tensor | Module,
            # but a module takes plain attributes (these strings and floats); method-assign: the
            # forward is replaced per instance, so the model keeps its classes and state_dict
            if backward_scales is not None:
                module.lowp_backward_scale = float(backward_scales[name])  # type: ignore[assignment]
            module.lowp_forward, module.lowp_backward = forward, backward  # type: ignore[assignment]
            module.forward = types.MethodType(_quantized_forward, module)  # type: ignore[method-assign]
            count += 1
    return count


def unit_scaled_constants(rules: Rules) -> bool:
    """Whether a scheme initialises every matrix with unit variance (b = 0 for every kind), the
    defining trait of unit scaling (u-μP, μnit Scaling)."""
    return all(rules[kind].b == 0 for kind in ("embedding", "hidden", "readout"))


@torch.no_grad()
def unit_scale(model: nn.Module, spec) -> None:
    """Rescale every matrix so its trainable w has init RMS 1 at the base width; the multiplier,
    the learning rate and Adam's eps absorb the constant (exact for Adam; ``spec`` is updated, so
    build the optimizer afterwards)."""
    if spec.rules.optimizer not in ("adam", "adam-atan2"):
        raise ValueError(
            f"unit_scale keeps the trajectory only for Adam-like optimizers; got "
            f"{spec.rules.optimizer!r} (accepted: adam, adam-atan2)"
        )
    modules: dict[str, Any] = dict(model.named_modules())
    ratio = spec.width / spec.base_width
    new = []
    for p in spec.params:
        module_name, _, attr = p.name.rpartition(".")
        module = modules[module_name]
        if p.kind not in ("embedding", "hidden", "readout") or attr != "weight" or p.init_std == 0:
            new.append(p)
            continue
        if not isinstance(module, (ScaledLinear, ScaledEmbedding)):
            raise ValueError(f"unit_scale needs abcparam's own layers; {p.name} is {module}")
        b = float(spec.rules[p.kind].b)
        s = p.init_std * ratio**b  # the init std at the base width
        spec.tensors[p.name].div_(s)
        module.multiplier = p.multiplier * s
        new.append(
            dataclasses.replace(
                p,
                multiplier=p.multiplier * s,
                init_std=p.init_std / s,
                lr_scale=p.lr_scale / s,
                eps_scale=p.eps_scale * s,
            )
        )
    spec.params[:] = new


class ResPostLNBlock(Block):
    """Res-post-LN block (μnit Scaling, Narayan et al. 2025): x + norm(attn(x)), then
    x + norm(mlp(x)); the branch norms are ``post1`` / ``post2``."""

    post1: nn.Module
    post2: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.post1(self.attn(x))
        return x + self.post2(self.mlp.fc2(F.gelu(self.mlp.fc1(x))))


def res_post_ln(model: GPT) -> GPT:
    """Turn a GPT's pre-LN blocks into res-post-LN blocks, in place (call before parametrize)."""
    if not isinstance(model, GPT):
        raise TypeError(f"res_post_ln needs abcparam's GPT; got {type(model).__name__}")
    blocks: Any = model.blocks
    for block in blocks:
        width = block.ln1.weight.shape[0]
        block.post1, block.post2 = ScaledLayerNorm(width), ScaledLayerNorm(width)
        del block.ln1, block.ln2
        block.__class__ = ResPostLNBlock
    return model


@torch.no_grad()
def round_state(model: nn.Module, optimizer: torch.optim.Optimizer | None, fmt: str) -> None:
    """Round every parameter and every floating optimizer state (Adam's m, v) to ``fmt``, as if
    they were stored in it (call after each step): updates below half an ulp of w are lost."""
    for p in model.parameters():
        p.copy_(cast(p, fmt))
        state = optimizer.state.get(p, {}) if optimizer is not None else {}
        for value in state.values():
            if torch.is_tensor(value) and value.is_floating_point() and value.dim() > 0:
                value.copy_(cast(value, fmt))
