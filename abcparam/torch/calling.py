"""One forward pass on a batch, the same way everywhere abcparam calls a model (the coordinate
check, topology discovery, the attention and layout scans, the fold checks): a batch is a tensor,
a tuple or list of positional arguments, or a dict of keyword arguments (a Hugging Face batch)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import torch
from torch import nn


def call_model(model: nn.Module, inputs):
    """The model's forward on a batch's inputs: a tensor, a tuple of positional arguments or a
    dict of keyword arguments (a Hugging Face batch)."""
    if isinstance(inputs, Mapping):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


def tensors(obj: Any) -> Iterable[torch.Tensor]:
    """Every tensor in ``obj`` (a tensor, or lists, tuples and mappings of them), in order."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from tensors(item)
    elif isinstance(obj, Mapping):
        for item in obj.values():
            yield from tensors(item)


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """``model`` in eval mode for the block, each module's own mode restored after."""
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield
    finally:
        for m, mode in modes.items():
            m.train(mode)
