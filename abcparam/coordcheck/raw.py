"""Layers made of raw ``nn.Parameter`` s that the coordinate check can still record.

A Mixture-of-Experts block (Mixtral, Qwen2-MoE in ``transformers`` 5) keeps its router as a raw
``(experts, n)`` weight read by ``F.linear(x, W)`` and its experts as banks ``(E, 2I, n)`` and
``(E, n, I)`` indexed per expert (Jiang et al. 2024, Mixtral of Experts, Sec. 2.1).  No layer type
states their layout, so it is read from how the forward uses them (``abcparam.torch.usage``), and
two shapes of module are recorded:

- a **raw linear** module: one trainable matrix used as ``F.linear(x, W)`` (out, in) or
  ``x @ W`` (in, out); its output is the output tensor whose last dimension is the fan-out (a
  router returns its logits first, then scores and indices).  It is measured like an
  ``nn.Linear``, alignment terms included.
- an **expert bank**: trainable parameters of three or more dimensions whose leading index (one
  expert) is neither fan-in nor fan-out.  Its output is the experts' own MLP output: the module is
  run again on the same input with the routing held at init (its integer arguments, the chosen
  experts, as at the first capture) and the gates set to one (its other floating arguments), so
  the row measures the experts and not the router (whose gates are judged on the router's row;
  Qwen2-MoE's unnormalised top-k softmax mass shrinks as the router's logits do, which would put a
  finite-width slope into the experts' output).  The weight change is the RMS over every bank's
  entries.  Its alignment terms are not measured (the products run inside the module); its change
  is predicted with the rules' own alignment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..torch.shapes import Layout

#: at most this many entries of an expert bank's weights enter its weight-change statistic
BANK_SKETCH = 1 << 16


@dataclass(frozen=True)
class RawUse:
    """How the recorder reads one raw-parameter module: ``form`` "linear" (one matrix, ``out_dim``
    its output-feature axis) or "bank" (expert banks, ``attrs`` all of them)."""

    form: str
    attrs: tuple[str, ...]
    out_size: int
    in_size: int
    out_dim: int = 0

    def weight(self, module: nn.Module) -> torch.Tensor:
        """The matrix (linear), or every bank's entries flattened and sketched (bank)."""
        if self.form == "linear":
            return getattr(module, self.attrs[0]).detach()
        flat = torch.cat([getattr(module, a).detach().reshape(-1) for a in self.attrs])
        return flat[:: max(flat.numel() // BANK_SKETCH, 1)]

    def apply(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The matrix product the forward computes: ``F.linear(x, W)`` or ``x @ W``."""
        return F.linear(x, w) if self.out_dim == 0 else x @ w

    def output(self, output: Any) -> torch.Tensor | None:
        """The module's output tensor: the first floating tensor whose last dimension is the
        fan-out (a router's logits, not its top-k scores or indices)."""
        for t in _tensors(output):
            if t.is_floating_point() and t.dim() >= 1 and t.shape[-1] == self.out_size:
                return t
        return None

    def input(self, args: Any, kwargs: Mapping[str, Any]) -> torch.Tensor | None:
        """The input the weights read: the first floating argument whose last dimension is the
        fan-in."""
        for t in _tensors((args, dict(kwargs))):
            if t.is_floating_point() and t.dim() >= 1 and t.shape[-1] == self.in_size:
                return t
        return None


def expert_outputs(
    module: nn.Module, use: RawUse, args: tuple, kwargs: Mapping[str, Any], routes: list | None
) -> tuple[torch.Tensor, list]:
    """The bank's experts' outputs on the forward's input: the module run again (no grad) with
    its integer arguments (the routing) replaced by ``routes`` (those of init; None: these are
    init's) and its other floating arguments (the gates) by ones; returns (output, routing)."""
    x = use.input(args, kwargs)
    given = routes if routes is not None else []
    out_routes: list[torch.Tensor] = []

    def swap(t: Any) -> Any:
        if not torch.is_tensor(t) or t is x:
            return t
        if not t.is_floating_point():
            i = len(out_routes)
            kept = given[i] if i < len(given) and given[i].shape == t.shape else t
            out_routes.append(kept)
            return kept
        return torch.ones_like(t)

    new_args = tuple(swap(a) for a in args)
    new_kwargs = {k: swap(v) for k, v in kwargs.items()}
    with torch.no_grad():
        out = use.output(module(*new_args, **new_kwargs))
    if out is None:
        raise RuntimeError(
            f"an expert bank ({type(module).__name__}) gave no output of size {use.out_size}"
        )
    return out, out_routes


def _tensors(obj: Any) -> list[torch.Tensor]:
    if torch.is_tensor(obj):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, Mapping):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


def raw_use(module: nn.Module, name: str, layouts: Mapping[str, Layout] | None) -> RawUse | None:
    """How to record the module called ``name`` from its raw parameters' observed ``layouts``
    (parameter name -> layout, ``abcparam.torch.usage.raw_layouts``), or None when it is not a
    raw linear module or an expert bank (or a layout was not observed)."""
    if not layouts:
        return None
    prefix = f"{name}." if name else ""
    own = [(a, p) for a, p in module.named_parameters(recurse=False) if p.requires_grad]
    if not own or any(f"{prefix}{a}" not in layouts for a, _ in own):
        return None
    lays = [(a, p, layouts[f"{prefix}{a}"]) for a, p in own]
    if any(lay.table or len(lay.fan_out) != 1 or len(lay.fan_in) != 1 for _, _, lay in lays):
        return None
    if len(lays) == 1 and lays[0][1].ndim == 2:
        attr, p, lay = lays[0]
        return RawUse(
            "linear", (attr,), p.shape[lay.fan_out[0]], p.shape[lay.fan_in[0]], lay.fan_out[0]
        )
    if all(p.ndim >= 3 for _, p, _ in lays):
        attr, p, lay = lays[0]  # the first bank reads the module's input
        outs = [q.shape[la.fan_out[0]] for _, q, la in lays]
        return RawUse(
            "bank",
            tuple(a for a, _, _ in lays),
            outs[-1],  # the last bank writes the module's output
            p.shape[lay.fan_in[0]],
            lay.fan_out[0],
        )
    return None
