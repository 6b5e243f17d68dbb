"""Record what a coordinate check measures while a model trains (THEORY.md "Coordinate checks").

Per chain layer and step, on a fixed probe batch: the RMS of the layer's output (and, at init, of
its input), of its change since init, and of the effective weight change
``multiplier * (w_t - w_0)``; and the three alignment ratios of the change
``dz = dW x0 + W0 dx + dW dx`` (Everett et al. 2024's alpha, omega, u):
``rms(A v) / (rms(A) rms(v))`` grows as ``fan_in^x`` with x = 1 for aligned, 1/2 for independent
factors.  For a linear layer the terms come from two extra matmuls:
``dW x0 = W_t x0 - z0``, ``W0 dx = W0 x_t - z0``, and ``dW dx = dz - dW x0 - W0 dx``; and the
cosines between the three terms, which say how they add.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
from torch import nn

from ..torch.layers import ScaledEmbedding, ScaledLinear

#: probe rows used for the alignment ratios (keeps their cost near one extra forward pass)
ALIGN_ROWS = 64
#: the pairs of change terms whose cosine is recorded
PAIRS = (("alpha", "omega"), ("alpha", "u"), ("omega", "u"))


def rms(t: torch.Tensor) -> float:
    return (torch.linalg.vector_norm(t.detach()) / math.sqrt(max(t.numel(), 1))).item()


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1, t.shape[-1])


@dataclass
class _Layer:
    name: str
    kind: str
    module: nn.Module
    w0: torch.Tensor
    w0_rms: float = 0.0
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
                raise TypeError(
                    f"chain module {name!r} is a {type(module).__name__}; the "
                    f"coordinate check records ScaledLinear / ScaledEmbedding layers"
                )
            w0 = module.weight.detach().clone()
            self.layers.append(_Layer(name, kind, module, w0, w0_rms=rms(w0)))
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
            out.append(
                {
                    "layer": layer.name,
                    "kind": layer.kind,
                    "output": rms(z),
                    "input": rms(x) if x.is_floating_point() else None,
                    "delta": 0.0,
                    "update": 0.0,
                }
            )
        return out

    @contextlib.contextmanager
    def capture(self):
        """Capture the layers during a forward pass the caller runs anyway (a training step on
        the probe batch), so that :meth:`measure` needs no forward of its own."""
        self.active, self._captured = True, {}
        try:
            yield
        finally:
            self.active = False

    @torch.no_grad()
    def measure(self, batch: torch.Tensor | None = None) -> list[dict]:
        """One record per layer for the current weights: runs the probe ``batch``, or uses what
        the last :meth:`capture` saw (which must have been the probe batch)."""
        if batch is not None:
            self._probe(batch)
        out = []
        for layer in self.layers:
            x, z = self._captured[layer.name]
            m = layer.module.multiplier
            weight = layer.module.weight.detach()
            update = (torch.dist(weight, layer.w0) * abs(m) / math.sqrt(weight.numel())).item()
            rec = {
                "layer": layer.name,
                "kind": layer.kind,
                "output": rms(z),
                "delta": (torch.dist(z, layer.z0) / math.sqrt(max(z.numel(), 1))).item(),
                "update": update,
            }
            if (
                self.alignment
                and isinstance(layer.module, ScaledLinear)
                and layer.kind != "embedding"
            ):
                # alignment ratios need no big batch: the first ALIGN_ROWS probe rows suffice
                rows = slice(0, ALIGN_ROWS)
                x0, xt = _flat(layer.x0)[rows], _flat(x)[rows]
                z0 = _flat(layer.z0)[rows]
                if layer.module.bias is not None:
                    z0 = (x0 @ layer.w0.T) * m
                term_alpha = (x0 @ weight.T) * m - z0  # dW x0
                term_omega = (xt @ layer.w0.T) * m - z0  # W0 dx
                term_u = _flat(z)[rows] - _flat(layer.z0)[rows] - term_alpha - term_omega  # dW dx
                dx = xt - x0
                rec["input_delta"] = rms(dx)
                w0_rms = layer.w0_rms * abs(m)
                rec["align_alpha"] = _ratio(term_alpha, update, x0)
                rec["align_omega"] = _ratio(term_omega, w0_rms, dx)
                rec["align_u"] = _ratio(term_u, update, dx)
                rec["term_alpha"], rec["term_omega"], rec["term_u"] = (
                    rms(term_alpha),
                    rms(term_omega),
                    rms(term_u),
                )
                # the angles between the terms: they add as vectors and may cancel
                terms = {"alpha": term_alpha, "omega": term_omega, "u": term_u}
                for first, second in PAIRS:
                    rec[f"cos_{first}_{second}"] = _cosine(terms[first], terms[second])
                rec["fan_in"] = layer.module.in_features
            out.append(rec)
        return out


def _cosine(p: torch.Tensor, q: torch.Tensor) -> float:
    """Cosine between two flattened tensors (0 if either is zero)."""
    denom = (torch.linalg.vector_norm(p) * torch.linalg.vector_norm(q)).item()
    return (p.flatten() @ q.flatten()).item() / denom if denom > 0 else 0.0


def _ratio(product: torch.Tensor, matrix_rms: float | torch.Tensor, vector: torch.Tensor) -> float:
    """rms(A v) / (rms(A) * rms(v)); ~ fan_in^x for alignment exponent x (nan if undefined)."""
    if isinstance(matrix_rms, torch.Tensor):
        matrix_rms = rms(matrix_rms)
    denom = matrix_rms * rms(vector)
    return rms(product) / denom if denom > 0 and math.isfinite(denom) else float("nan")
