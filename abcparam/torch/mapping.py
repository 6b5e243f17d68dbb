"""Which layer kind each parameter of a torch model is (embedding / hidden / readout / bias / norm).

Built-in layers say it themselves (``abc_kind``).  For any other model the rule is TP-V's: a
dimension is "infinite" when it grows with width (a multiple of ``width``); a matrix with both
dimensions infinite is hidden, with only its output infinite an embedding, with only its input
infinite a readout; a vector of infinite length is a bias (name ends in "bias") or a norm gain.
User rules ``{regex: kind}`` come first.  A parameter no rule maps is an error, never a default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from torch import nn

from ..engine.exponents import LAYER_KINDS, canonical_kind
from .layers import ScaledLayerNorm


class UnmappedParameterError(ValueError):
    """A parameter whose layer kind no rule determines."""


def _infinite(dim: int, width: int) -> bool:
    return dim >= width and dim % width == 0


def _shape_kind(name: str, param: nn.Parameter, module: nn.Module, width: int) -> str | None:
    shape = tuple(param.shape)
    if len(shape) == 1:
        if not _infinite(shape[0], width):
            return None
        return "bias" if name.endswith("bias") else "norm"
    if len(shape) == 2:
        if isinstance(module, nn.Embedding):
            return "embedding" if _infinite(shape[1], width) else None
        out_inf, in_inf = _infinite(shape[0], width), _infinite(shape[1], width)
        return {(True, True): "hidden", (True, False): "embedding", (False, True): "readout"}.get(
            (out_inf, in_inf)
        )
    return None


def map_parameters(
    model: nn.Module, width: int, layer_map: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Layer kind of every trainable parameter, by user regex, layer attribute, then shape."""
    rules = [
        (re.compile(pattern), canonical_kind(kind)) for pattern, kind in (layer_map or {}).items()
    ]
    modules = dict(model.named_modules())
    kinds = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        module_name, _, attr = name.rpartition(".")
        module = modules[module_name]
        kind = next((k for pattern, k in rules if pattern.search(name)), None)
        if kind is None and getattr(module, "abc_kind", None) is not None:
            kind = module.abc_kind if attr == "weight" else "bias"
        if kind is None and isinstance(module, ScaledLayerNorm):
            kind = "norm" if attr == "weight" else "bias"
        if kind is None:
            kind = _shape_kind(name, param, module, width)
        if kind is None:
            raise UnmappedParameterError(
                f"cannot map parameter {name!r} (shape {tuple(param.shape)}, width {width}) to a "
                f"layer kind; accepted kinds: {', '.join(LAYER_KINDS)}. Pass "
                f"layer_map={{r'{re.escape(name)}': 'hidden'}} (regex -> kind) to say which."
            )
        kinds[name] = kind
    return kinds
