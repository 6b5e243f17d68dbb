"""``package.module:attribute`` -> the object: how the CLI and sweeps load a user's own model
factory, batch function and loss (torch-free)."""

from __future__ import annotations

import importlib
from typing import Any


def load_object(spec: str, what: str) -> Any:
    """``package.module:attribute`` -> the callable (a clear error when it cannot be found)."""
    module_name, sep, attr = str(spec).partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{what} {spec!r}: expected package.module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"{what} {spec!r}: cannot import {module_name!r} ({err})") from None
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise ValueError(f"{what} {spec!r}: {module_name} has no {attr!r}") from None
    if not callable(obj):
        raise ValueError(f"{what} {spec!r} is a {type(obj).__name__}, not a function")
    return obj
