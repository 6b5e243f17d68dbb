"""Which layer kind each parameter is, from the model built at two widths (not divisibility).

A dimension is "infinite" when it differs between the model at two widths (as mup's base shapes
do; TP-V Sec. 4).  A matrix with both fan-out and fan-in infinite is ``hidden``; only fan-out
infinite an ``embedding`` (``nn.Embedding``, an input ``Linear``, a convolution stem whose fan-in
is channels x kernel area, a learned positional table); only fan-in infinite a ``readout``; a
vector of infinite length a ``bias`` (its name ends in "bias") or a ``norm`` gain; a parameter with
no infinite dimension is ``scalar`` (nothing in it grows with width: multiplier, init and LR stay
as they are, as mup does for its "scalar-like" parameters).  The built-in layers say their kind
(``abc_kind``).  User rules ``{regex: kind}`` come first.  A parameter no rule maps is an error
naming it and the ``layer_map`` entry that would map it, never a default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from torch import nn

from ..engine.exponents import LAYER_KINDS, canonical_kind
from .layers import ScaledLayerNorm
from .shapes import ASSUMED, Layout, layout

#: torch-side kind of a parameter none of whose dimensions grows with width
SCALAR = "scalar"
KINDS = LAYER_KINDS + (SCALAR,)


class UnmappedParameterError(ValueError):
    """A parameter whose layer kind no rule determines."""


@dataclass(frozen=True)
class Mapped:
    """One parameter's kind and the reason for it (shown by ``Spec.table()``)."""

    name: str
    kind: str
    why: str
    shape: tuple[int, ...]
    base_shape: tuple[int, ...]
    infinite: tuple[int, ...]
    layout: Layout | None = None  # the layout read from the forward (raw parameters)


def clean_name(name: str) -> str:
    """A parameter's own name, also when torch parametrize has moved it
    (``a.parametrizations.weight.original`` -> ``a.weight``)."""
    return re.sub(r"(^|\.)parametrizations\.([^.]+)\.original\d*$", r"\1\2", name)


def named_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """Every (name, parameter) including the second names of shared (tied) tensors."""
    return [(clean_name(n), p) for n, p in model.named_parameters(remove_duplicate=False)]


def _kind(lay: Layout, inf: set[int]) -> str:
    out_inf = any(i in inf for i in lay.fan_out)
    in_inf = any(i in inf for i in lay.fan_in)
    return {(True, True): "hidden", (True, False): "embedding", (False, True): "readout"}.get(
        (out_inf, in_inf), SCALAR
    )


def _kind_of(
    name: str,
    module: nn.Module,
    attr: str,
    shape,
    inf: set[int],
    used: Layout | None = None,
    assume_raw: bool = True,
) -> tuple[str | None, str]:
    lay = layout(module, attr, len(shape), used)
    if lay is None:
        if not inf:
            return SCALAR, "a vector whose length does not grow with width"
        if attr.endswith("bias") or attr.startswith("bias"):
            return "bias", "a bias: a vector of width-growing length"
        return "norm", f"a norm gain: a vector of width-growing length ({attr!r})"
    kind = _kind(lay, inf)
    if lay.source == ASSUMED and not assume_raw:
        flipped = Layout(lay.fan_in[-1:], lay.fan_out)
        if _kind(flipped, inf) != kind or len(shape) > 2:  # readings disagree, or leading dims
            return None, (
                "a raw parameter whose layout (which dimension is its fan-in) no layer type "
                "states and no forward pass showed: pass example_batch= to parametrize so that "
                "it is read from how the forward uses it"
            )
    if lay.index and any(i in inf for i in lay.fan_in):
        return None, f"{lay.source}: its index dimension grows with width"
    grows = {
        "hidden": "fan-out and fan-in grow",
        "embedding": "only fan-out grows",
        "readout": "only fan-in grows",
        SCALAR: "no dimension grows",
    }[kind]
    return kind, f"{lay.source}: {grows} with width"


def infinite_dims(
    model: nn.Module, base: nn.Module, delta: nn.Module | None = None
) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """Per parameter name: (shape, base shape, indices of the dimensions that change with width).

    The dimensions are compared between ``base`` and ``delta`` when a ``delta`` model is given (a
    third width, needed when ``model`` is built at the base width itself), else between ``base``
    and ``model``.  The models must have the same parameter names."""
    ours, theirs = named_parameters(model), dict(named_parameters(base))
    other = dict(named_parameters(delta)) if delta is not None else dict(ours)
    for label, names in (("base", theirs), ("delta", other)):
        missing = [n for n, _ in ours if n not in names]
        extra = [n for n in names if n not in dict(ours)]
        if missing or extra:
            raise ValueError(
                f"the {label} model does not have the same parameters as the model "
                f"(missing {missing[:3]}, extra {extra[:3]}): build both with the same factory, "
                f"changing only the width"
            )
    out = {}
    for name, p in ours:
        shape, b_shape, d_shape = tuple(p.shape), tuple(theirs[name].shape), other[name].shape
        if len(b_shape) != len(shape) or len(d_shape) != len(shape):
            raise ValueError(
                f"parameter {name!r} has shape {shape} in the model but {b_shape} in the base: "
                f"the factory must keep every parameter's number of dimensions"
            )
        out[name] = (
            shape,
            b_shape,
            tuple(i for i in range(len(shape)) if b_shape[i] != d_shape[i]),
        )
    return out


def map_kinds(
    model: nn.Module,
    base: nn.Module | None = None,
    layer_map: Mapping[str, str] | None = None,
    delta: nn.Module | None = None,
    layouts: Mapping[str, Layout] | None = None,
    assume_raw: bool = True,
) -> dict[str, Mapped]:
    """:class:`Mapped` for every trainable parameter name (tied tensors under each name);
    ``layouts``: raw parameters' layouts as the forward uses them
    (:func:`abcparam.torch.usage.observe_layouts`); a raw parameter not among them is read as
    (..., in, out), or, with ``assume_raw=False``, is an error where that reading decides its
    kind or its fan-in."""
    if isinstance(base, int) or isinstance(delta, int):
        raise TypeError(
            "layer kinds come from comparing the model at two widths: pass base=make(base_width) "
            "(a model built by the same factory at another width), not a number"
        )
    rules = []
    for pattern, given in (layer_map or {}).items():
        try:
            rules.append((re.compile(pattern), _user_kind(given, pattern)))
        except re.error as err:
            raise ValueError(f"layer_map key {pattern!r} is not a valid regex: {err}") from None
    modules = dict(model.named_modules(remove_duplicate=False))  # a module registered twice too
    dims = infinite_dims(model, base, delta) if base is not None else None
    out: dict[str, Mapped] = {}
    unmapped = []
    for name, param in named_parameters(model):
        if not param.requires_grad:
            continue
        module_name, _, attr = name.rpartition(".")
        module = modules[module_name]
        shape = tuple(param.shape)
        b_shape: tuple[int, ...] = shape
        inf: tuple[int, ...] = ()
        if dims is not None:
            shape, b_shape, inf = dims[name]
        hit = next(((p, k) for p, k in rules if p.search(name)), None)
        kind: str | None
        if hit is not None:
            kind, why = hit[1], f"layer_map {hit[0].pattern!r}"
        elif getattr(module, "abc_kind", None) is not None:
            kind = module.abc_kind if attr == "weight" else "bias"
            why = f"{type(module).__name__}.abc_kind"
        elif isinstance(module, ScaledLayerNorm):
            kind = "norm" if attr == "weight" else "bias"
            why = "ScaledLayerNorm"
        elif dims is None:
            unmapped.append((name, shape, "no base model to compare shapes with"))
            continue
        else:
            used = (layouts or {}).get(name)
            kind, why = _kind_of(name, module, attr, shape, set(inf), used, assume_raw)
            if kind is None:
                unmapped.append((name, shape, why))
                continue
            why = f"{why} ({b_shape} at base -> {shape})" if inf else why
        assert kind is not None
        out[name] = Mapped(name, kind, why, shape, b_shape, tuple(inf), (layouts or {}).get(name))
    if unmapped:
        name, shape, why = unmapped[0]
        more = f" (and {len(unmapped) - 1} more: {[u[0] for u in unmapped[1:4]]})" * (
            len(unmapped) > 1
        )
        raise UnmappedParameterError(
            f"cannot map parameter {name!r} (shape {shape}) to a layer kind: {why}{more}. "
            f"Accepted kinds: {', '.join(KINDS)}. Pass "
            f"layer_map={{r'^{re.escape(name)}$': 'hidden'}} (regex -> kind) to say which"
            + ("" if dims is not None else ", or base=make(base_width) to compare shapes")
        )
    return out


def _user_kind(kind: str, pattern: str) -> str:
    if str(kind).strip().lower() == SCALAR:
        return SCALAR
    try:
        return canonical_kind(kind)
    except ValueError:
        raise ValueError(
            f"layer_map[{pattern!r}] = {kind!r} is not a layer kind; accepted: {', '.join(KINDS)}"
        ) from None


def map_parameters(
    model: nn.Module,
    base: nn.Module | None = None,
    layer_map: Mapping[str, str] | None = None,
    delta: nn.Module | None = None,
) -> dict[str, str]:
    """Layer kind of every trainable parameter: user regex, layer attribute, then the shapes of
    ``model`` against ``base`` (the same factory at another width; see :func:`infinite_dims`)."""
    return {name: m.kind for name, m in map_kinds(model, base, layer_map, delta).items()}
