"""Which dimensions of a parameter are its fan-out and its fan-in, per torch layer type.

A weight maps ``fan_in`` inputs to ``fan_out`` outputs; the layer kind (TP-V Table 3) depends on
which of the two grows with width.  Layouts differ: ``nn.Linear`` stores (out, in), Hugging Face's
``Conv1D`` stores (in, out), ``nn.Embedding`` stores (num_embeddings, dim) with the one-hot index
as its fan-in, a convolution stores (out, in / groups, *kernel) so its fan-in counts the kernel
area, a transposed convolution stores (in, out / groups, *kernel), and a recurrent layer
(``nn.RNN/LSTM/GRU``) stores (gates x hidden, in), its gates stacked along the fan-out.  A raw
``nn.Parameter`` of a module that is not a known layer takes the layout its forward uses
(:mod:`abcparam.torch.usage`: ``F.linear(x, W)`` means (out, in)); without a forward pass to read
it is assumed to be a table or an ``x @ W`` weight, (..., fan-in, fan-out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_T = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


@dataclass(frozen=True)
class Layout:
    """Indices of a parameter's fan-out and fan-in dimensions.  ``table``: read as a lookup table
    (an embedding of this layout starts at unit scale, not 1/sqrt(fan-in)); ``index``: the fan-in
    is a one-hot index (``nn.Embedding``), never a width-n sum."""

    fan_out: tuple[int, ...]
    fan_in: tuple[int, ...]
    table: bool = False
    source: str = ""
    index: bool = False

    def fan_in_size(self, shape: tuple[int, ...]) -> int:
        return math.prod(shape[i] for i in self.fan_in)

    def fan_out_size(self, shape: tuple[int, ...]) -> int:
        return math.prod(shape[i] for i in self.fan_out)


def is_hf_conv1d(module: nn.Module) -> bool:
    """Hugging Face ``Conv1D`` (GPT-2): a linear layer whose weight is stored (in, out)."""
    return type(module).__name__ == "Conv1D" and hasattr(module, "nf")


#: how a raw parameter is read when no forward pass says otherwise
ASSUMED = "raw parameter, assumed (..., in, out)"


def is_raw(module: nn.Module, attr: str) -> bool:
    """Whether ``module.<attr>`` belongs to no layer type that states its layout."""
    found = layout(module, attr, 2)  # a matrix always has a layout
    return found is not None and found.source == ASSUMED


def layout(module: nn.Module, attr: str, ndim: int, used: Layout | None = None) -> Layout | None:
    """The fan-out / fan-in dimensions of ``module.<attr>`` (a tensor of ``ndim`` dimensions), or
    None for a vector (ndim < 2), whose kind is bias or norm gain; ``used``: the layout the
    forward was seen to use, taken for a raw parameter."""
    if ndim < 2:
        return None
    rest = tuple(range(2, ndim))
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)) and attr == "weight":
        return Layout(
            (1,), (0,), table=True, source=f"{type(module).__name__} (num, dim)", index=True
        )
    if isinstance(module, _CONV) and attr == "weight":
        return Layout(
            (0,), (1,) + rest, source=f"{type(module).__name__} (out, in/groups, *kernel)"
        )
    if isinstance(module, _CONV_T) and attr == "weight":
        return Layout(
            (1,), (0,) + rest, source=f"{type(module).__name__} (in, out/groups, *kernel)"
        )
    if is_hf_conv1d(module) and attr == "weight":
        return Layout((1,), (0,), source="Hugging Face Conv1D (in, out)")
    if isinstance(module, nn.Linear) and attr == "weight":
        return Layout((0,), (1,), source="Linear (out, in)")
    if isinstance(module, nn.MultiheadAttention) and attr.endswith("_weight"):
        return Layout((0,), (1,), source="MultiheadAttention projection (out, in)")
    if isinstance(module, nn.RNNBase) and attr.startswith("weight_"):
        return Layout((0,), (1,), source=f"{type(module).__name__} (gates x hidden, in)")
    if used is not None:
        return used
    # a raw parameter never seen in a forward: (..., fan-in, fan-out), a table's and x @ W's
    return Layout((ndim - 1,), tuple(range(ndim - 1)), table=True, source=ASSUMED)


class UnsupportedLayerError(ValueError):
    """A layer type parametrize refuses, with the reason."""


def refuse_recurrent(model: nn.Module) -> None:
    """Refuse ``nn.RNN/LSTM/GRU``: their forward reads the weights through a flat list made at
    construction (cuDNN's layout), so a multiplier registered on ``weight_hh_l0`` would never
    reach the computation, and the coordinate check cannot record them."""
    for name, module in model.named_modules():
        if isinstance(module, nn.RNNBase) and any(p.requires_grad for p in module.parameters()):
            raise UnsupportedLayerError(
                f"unsupported layer: {name!r} is nn.{type(module).__name__}, whose forward reads "
                f"its gate-stacked weights (gates x hidden, in) through a flat buffer that "
                f"per-layer multipliers cannot reach; write the cell from nn.Linear layers "
                f"(gates = W_ih x + W_hh h) to parametrize it, or freeze it (requires_grad=False)"
            )
