"""``package.module:attribute`` -> the object: how the CLI and sweeps load a user's own model
factory, batch function and loss (torch-free)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any


def load_object(spec: str, what: str) -> Any:
    """``package.module:attribute`` -> the callable (a clear error when it cannot be found)."""
    module_name, sep, attr = str(spec).partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{what} {spec!r}: expected package.module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(
            f"{what} {spec!r}: cannot import {module_name!r} ({err}){_hint(module_name)}"
        ) from None
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise ValueError(f"{what} {spec!r}: {module_name} has no {attr!r}") from None
    if not callable(obj):
        raise ValueError(f"{what} {spec!r} is a {type(obj).__name__}, not a function")
    return obj


def _hint(module_name: str) -> str:
    """Why a module in the current folder is not found: that folder is not on sys.path (the
    ``abcparam`` script, unlike ``python -m``, does not put it there)."""
    import os
    import sys

    top = module_name.split(".")[0]
    here = Path.cwd()
    on_path = any(Path(p or ".").resolve() == here.resolve() for p in sys.path)
    if not on_path and ((here / f"{top}.py").exists() or (here / top).is_dir()):
        return (
            f"; {top} is in the current folder, which is not on the module path: run with "
            f"PYTHONPATH={os.curdir} (or python -m abcparam.cli ...)"
        )
    return ""
