"""The base a model is parametrized against and the width ratio between them.

Layer kinds come from the shapes that differ between the model and the same factory at the base
width (a ``delta`` model at a third width when the model is built at the base width itself); the
ratio ``width / base_width`` is read off the width-growing dimensions, which must all grow by the
same factor (TP-V's ``n``), and checked against any width given.
"""

from __future__ import annotations

import math

from torch import nn

from .layers import ScaledLayerNorm
from .mapping import infinite_dims, map_kinds
from .usage import raw_layouts


def width_of(model: nn.Module) -> int | None:
    """The model's own width: a ``.width`` attribute or its config's hidden size."""
    value = getattr(model, "width", None)
    if isinstance(value, int):
        return value
    config = getattr(model, "config", None)
    for attr in ("hidden_size", "n_embd", "d_model"):
        value = getattr(config, attr, None)
        if isinstance(value, int):
            return value
    return None


def _self_describing(model: nn.Module) -> bool:
    """Every trainable parameter sits in a layer that states its kind (the built-in models)."""
    return all(
        getattr(m, "abc_kind", None) is not None or isinstance(m, ScaledLayerNorm)
        for m in model.modules()
        if any(p.requires_grad for p in m.parameters(recurse=False))
    )


def resolve_base(model, base, width, delta):
    """(base model, delta model or None, base width) from ``base`` (a model, or an int base width
    for the built-in models, which rebuild themselves)."""
    if base is None:
        raise ValueError(
            "parametrize needs the base model: pass base=make(base_width) (the same factory at "
            "the width the hyperparameters were tuned at), or base=<int> for the built-in models"
        )
    if isinstance(base, bool) or not isinstance(base, (int, nn.Module)):
        raise TypeError(f"base must be an nn.Module (or an int for built-in models); got {base!r}")
    if isinstance(base, int):
        if base < 1:
            raise ValueError(f"base width = {base}: need a positive int")
        if not hasattr(model, "at_width"):
            raise ValueError(
                f"base_width={base} works for the built-in models only; for a "
                f"{type(model).__name__} pass base=make({base}), the same factory at that width"
            )
        if _self_describing(model):  # kinds from abc_kind, head sizes from the ratio
            return None, None, base
        base_model = model.at_width(base)
        if delta is None and base == width_of(model):
            delta = model.at_width(2 * base)
        return base_model, delta, base
    return base, delta, width_of(base)


def _ratio(dims, model_width, base_width) -> float:
    """The one factor every width-growing dimension grows by (else the widths' ratio, else 1)."""
    ratios: dict[float, str] = {}
    for name, (shape, b_shape, inf) in dims.items():
        for i in inf:
            if b_shape[i] > 0:
                ratios.setdefault(round(shape[i] / b_shape[i], 9), name)
    if len(ratios) > 1:
        found = ", ".join(f"{r:g} ({n})" for r, n in ratios.items())
        raise ValueError(
            f"the width-growing dimensions grow by different factors between the base and the "
            f"model: {found}; build every width-n dimension as a fixed multiple of the width"
        )
    if ratios:
        return next(iter(ratios))
    if model_width and base_width:
        return model_width / base_width
    return 1.0


def checked_width(model: nn.Module, width: int | None) -> int | None:
    """The model's own width, once a given ``width`` is a positive int that agrees with it."""
    model_width = width_of(model)
    if width is not None:
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise ValueError(f"width = {width!r}: need a positive int")
        if model_width is not None and width != model_width:
            raise ValueError(
                f"width = {width} given, but this {type(model).__name__} is built at width "
                f"{model_width}: pass the model built at {width}, or drop width="
            )
    return model_width


def mapped_kinds(model, base_model, delta, layer_map, example_batch):
    """(parameter name -> Mapped kind, the width-growing dimensions against the base)."""
    dims = infinite_dims(model, base_model, delta) if base_model is not None else {}
    if dims and not any(inf for _, _, inf in dims.values()) and not layer_map:
        raise ValueError(
            "no parameter changes shape between the base and the model (is the base built at "
            "the same width, or does the factory ignore the width?): pass delta=make(w) at "
            "another width so that the width-growing dimensions can be told apart"
        )
    layouts = raw_layouts(model, example_batch) if example_batch is not None else None
    mapped = map_kinds(model, base_model, layer_map, delta, layouts, assume_raw=False)
    if not mapped:
        raise ValueError(
            f"{type(model).__name__} has no trainable parameters (all requires_grad=False): "
            f"nothing to parametrize; unfreeze the parameters to train"
        )
    return mapped, dims


def ratio_and_widths(dims, mapped, width, base_w) -> tuple[float, int | None, int | None]:
    """(width ratio, width, base width), each filled in from the others and checked to agree."""
    ratio = _ratio({n: dims[n] for n in mapped if n in dims}, width, base_w)
    if width and base_w and not math.isclose(width / base_w, ratio, rel_tol=1e-6):
        raise ValueError(
            f"width {width} / base width {base_w} = {width / base_w:g}, but the model's "
            f"width-growing dimensions are {ratio:g} x the base's: the model, base and width "
            f"do not match"
        )
    if width is None and base_w is not None:
        width = round(base_w * ratio)
    if base_w is None and width is not None:
        base_w = round(width / ratio)
    return ratio, width, base_w
