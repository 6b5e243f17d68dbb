"""How the forward uses a raw ``nn.Parameter``: the layout of a weight that no layer type states.

A raw parameter (a Mixtral router's ``weight``, an expert bank ``(E, 2I, n)``, a positional table)
has no layer type to say which dimension is its fan-in.  One forward pass under a
``TorchFunctionMode`` follows each such parameter through indexing and transposes to the op that
reads it: ``F.linear(x, W)`` stores W as (out, in); ``x @ W`` / ``torch.matmul(x, W)`` and a grouped ``x @ W`` (``torch._grouped_mm``, Hugging
Face's expert kernels) as (in, out), ``W @ x`` as (out, in); ``F.embedding(i, W)`` is a lookup table (num, dim).  A leading
index taken before the product (``W[e]``, one expert of a bank) is neither fan-in nor fan-out, so
an expert's fan-in is the hidden size, not E x 2I.  A parameter read only elementwise (``x +
pos[:T]``) is a table whose last dimension holds the features.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from .calling import call_model, evaluating
from .mapping import named_parameters
from .shapes import Layout, is_raw

#: ops that keep a tensor's dimensions in order (dtype / device / memory changes)
_SAME = {"contiguous", "to", "float", "half", "bfloat16", "type_as", "detach", "clone"}


def _dims_after_getitem(dims: tuple[int, ...], index: Any) -> tuple[int, ...] | None:
    """The parameter dimensions left after ``t[index]`` (an int or 0-d index drops one, a slice
    keeps one); None for indexing this reader does not follow (index tensors, Ellipsis, None)."""
    index = index if isinstance(index, tuple) else (index,)
    out, i = [], 0
    for item in index:
        if isinstance(item, bool) or i >= len(dims):
            return None
        if isinstance(item, int) or (
            torch.is_tensor(item) and item.dim() == 0 and not item.is_floating_point()
        ):  # one index (an expert of a bank): neither fan-in nor fan-out
            i += 1
        elif isinstance(item, slice):
            out.append(dims[i])
            i += 1
        else:
            return None
    return tuple(out) + dims[i:]


def _layout(dims: tuple[int, ...], out_dim: int, in_dim: int, source: str) -> Layout:
    out, fan_in = dims[out_dim], dims[in_dim]
    return Layout((out,), (fan_in,), source=f"{source}; fan-out dim {out}, fan-in dim {fan_in}")


class _Watch(TorchFunctionMode):
    """Follows tracked tensors (param name, remaining dims) to the op that reads them."""

    def __init__(self, params: Mapping[str, nn.Parameter]) -> None:
        super().__init__()
        self.tracked: dict[int, tuple[str, tuple[int, ...]]] = {
            id(p): (n, tuple(range(p.ndim))) for n, p in params.items()
        }
        self.keep: list[torch.Tensor] = []  # derived tensors stay alive so their ids stay unique
        self.found: dict[str, Layout] = {}
        self.read: set[str] = set()

    def _note(self, tensor: Any, name: str, dims: tuple[int, ...] | None) -> None:
        if torch.is_tensor(tensor) and dims is not None:
            self.tracked[id(tensor)] = (name, dims)
            self.keep.append(tensor)

    def _use(self, name: str, layout: Layout) -> None:
        self.found.setdefault(name, layout)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        hit = [(i, self.tracked[id(a)]) for i, a in enumerate(args) if id(a) in self.tracked]
        if not hit:
            return result
        fname = getattr(func, "__name__", "")
        pos, (name, dims) = hit[0]
        self.read.add(name)
        if func is F.linear and pos == 1 and len(dims) == 2:
            self._use(name, _layout(dims, 0, 1, "used as F.linear(x, W)"))
        elif func is F.embedding and pos == 1 and len(dims) == 2:
            self._use(
                name,
                Layout((dims[1],), (dims[0],), table=True, index=True, source="F.embedding table"),
            )
        elif fname in ("matmul", "__matmul__", "mm", "bmm", "__rmatmul__") and len(dims) >= 2:
            right = (pos == 1) != (fname == "__rmatmul__")
            if right:  # x @ W: W is (..., in, out)
                self._use(name, _layout(dims, -1, -2, "used as x @ W"))
            else:  # W @ x: W is (out, in)
                self._use(name, _layout(dims, -2, -1, "used as W @ x"))
        elif "grouped_mm" in fname and pos == 1 and len(dims) >= 2:
            # x @ W per group of tokens, W (groups, in, out): the group index is neither
            self._use(name, _layout(dims, -1, -2, f"used as a grouped x @ W ({fname})"))
        elif fname == "__getitem__" and pos == 0:
            self._note(result, name, _dims_after_getitem(dims, args[1]))
        elif fname in ("t", "T", "mT") and len(dims) == 2 or fname == "mT":
            self._note(result, name, dims[:-2] + (dims[-1], dims[-2]))
        elif fname in ("transpose", "swapaxes") and pos == 0:
            i, j = (int(a) % len(dims) for a in args[1:3])
            swapped = list(dims)
            swapped[i], swapped[j] = swapped[j], swapped[i]
            self._note(result, name, tuple(swapped))
        elif fname == "permute" and pos == 0:
            order = args[1:] if not isinstance(args[1], (tuple, list)) else args[1]
            self._note(result, name, tuple(dims[int(o)] for o in order))
        elif fname in _SAME and pos == 0:
            self._note(result, name, dims)
        return result


def observe_layouts(
    model: nn.Module, example_batch: Any, names: Mapping[str, nn.Parameter]
) -> dict[str, Layout]:
    """Layout of each parameter in ``names`` from how one forward pass on ``example_batch`` (a
    tensor, tuple of arguments or dict of keyword arguments) reads it; a parameter read only
    elementwise gets the table layout (features last); one never read is left out."""
    watch = _Watch(names)
    rng = torch.random.get_rng_state()
    try:
        with evaluating(model), torch.no_grad(), watch:
            call_model(model, example_batch)
    finally:
        torch.random.set_rng_state(rng)
    out = dict(watch.found)
    for name in watch.read - set(out):
        ndim = names[name].ndim
        out[name] = Layout(
            (ndim - 1,), tuple(range(ndim - 1)), table=True, source="read elementwise: a table"
        )
    return out


def raw_layouts(model: nn.Module, example_batch: Any) -> dict[str, Layout]:
    """:func:`observe_layouts` of every trainable raw parameter of two or more dimensions (those
    no layer type states the layout of), recurrent layers refused first."""
    modules = dict(model.named_modules())
    raw: dict[str, nn.Parameter] = {}
    for name, p in named_parameters(model):
        holder, _, attr = name.rpartition(".")
        if p.requires_grad and p.ndim >= 2 and is_raw(modules[holder], attr):
            raw.setdefault(name, p)
    return observe_layouts(model, example_batch, raw) if raw else {}
