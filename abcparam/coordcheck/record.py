"""Record what a coordinate check measures while a model trains (THEORY.md "Coordinate checks").

Per chain layer and step, on a fixed probe batch: the RMS of the layer's output, of its change since
init, and of the effective weight change ``multiplier * (w_t - w_0)``; and the three alignment
ratios of the change ``dz = dW x0 + W0 dx + dW dx`` (Everett et al. 2024's alpha, omega, u):
``rms(A v) / (rms(A) rms(v))`` grows as ``fan_in^x`` with x = 1 for aligned, 1/2 for independent
factors.  For a linear layer the terms come from two extra matmuls:
``dW x0 = W_t x0 - z0``, ``W0 dx = W0 x_t - z0``, and ``dW dx = dz - dW x0 - W0 dx``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..torch.layers import ScaledEmbedding, ScaledLinear


def rms(t: torch.Tensor) -> float:
    return t.detach().float().pow(2).mean().sqrt().item()


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1, t.shape[-1])


@dataclass
class _Layer:
    name: str
    kind: str
    module: nn.Module
    w0: torch.Tensor
    x0: torch.Tensor | None = None
    z0: torch.Tensor | None = None


class Recorder:
    """Forward hooks on the chain modules; :meth:`measure` runs the probe batch and returns one
    record per layer.  Hooks only capture during :meth:`measure`, so training steps pay nothing."""

    def __init__(self, model: nn.Module, chain: list[tuple[str, str]], alignment: bool = True):
        modules = dict(model.named_modules())
        self.model, self.alignment, self.active = model, alignment, False
        self.layers = []
        self._captured: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for name, kind in chain:
            module = modules[name]
            if not isinstance(module, (ScaledLinear, ScaledEmbedding)):
                raise TypeError(f"chain module {name!r} is a {type(module).__name__}; the "
                                f"coordinate check records ScaledLinear / ScaledEmbedding layers")
            self.layers.append(_Layer(name, kind, module, module.weight.detach().clone()))
            module.register_forward_hook(self._hook(name))

    def _hook(self, name: str):
        def capture(module, inputs, output):
            if self.active:
                self._captured[name] = (inputs[0].detach(), output.detach())
        return capture

    @torch.no_grad()
    def _probe(self, batch: torch.Tensor) -> None:
        self.active, self._captured = True, {}
        try:
            self.model(batch)
        finally:
            self.active = False

    @torch.no_grad()
    def start(self, batch: torch.Tensor) -> list[dict]:
        """Measure at init (step 0) and keep the probe's inputs and outputs as the reference."""
        self._probe(batch)
        out = []
        for layer in self.layers:
            x, z = self._captured[layer.name]
            layer.x0, layer.z0 = x, z
            out.append({"layer": layer.name, "kind": layer.kind, "output": rms(z),
                        "delta": 0.0, "update": 0.0})
        return out

    @torch.no_grad()
    def measure(self, batch: torch.Tensor) -> list[dict]:
        """One record per layer after the latest update."""
        self._probe(batch)
        out = []
        for layer in self.layers:
            x, z = self._captured[layer.name]
            m = layer.module.multiplier
            dW = (layer.module.weight - layer.w0) * m
            dz = z - layer.z0
            rec = {"layer": layer.name, "kind": layer.kind, "output": rms(z), "delta": rms(dz),
                   "update": rms(dW)}
            if self.alignment and isinstance(layer.module, ScaledLinear) and layer.kind != "embedding":
                x0, xt = _flat(layer.x0).float(), _flat(x).float()
                W0, Wt = layer.w0.float() * m, layer.module.weight.float() * m
                z0 = _flat(layer.z0).float() if layer.module.bias is None else x0 @ W0.T
                term_alpha = x0 @ Wt.T - z0                # dW x0
                term_omega = xt @ W0.T - z0                # W0 dx
                term_u = _flat(dz).float() - term_alpha - term_omega   # dW dx
                dx = xt - x0
                rec["align_alpha"] = _ratio(term_alpha, dW, x0)
                rec["align_omega"] = _ratio(term_omega, W0, dx)
                rec["align_u"] = _ratio(term_u, dW, dx)
                rec["term_alpha"], rec["term_omega"], rec["term_u"] = (
                    rms(term_alpha), rms(term_omega), rms(term_u))
                rec["fan_in"] = layer.module.in_features
            out.append(rec)
        return out


def _ratio(product: torch.Tensor, matrix: torch.Tensor, vector: torch.Tensor) -> float:
    """rms(A v) / (rms(A) * rms(v)); ~ fan_in^x for alignment exponent x (nan if undefined)."""
    denom = rms(matrix) * rms(vector)
    return rms(product) / denom if denom > 0 and math.isfinite(denom) else float("nan")
