"""abcparam: derive width-scaling rules (abc-parametrizations) from first principles.

``abcparam.rules("u-mup", optimizer="adam")`` derives a scheme's per-layer exponents exactly
(sympy); ``abcparam.derive(a=..., b=...)`` does it for any (a, b).  Importing this package needs
sympy only; torch is imported by ``abcparam.torch`` and ``abcparam.coordcheck``.
"""

from . import engine as _engine
from .engine import *  # noqa: F403 -- the package's public API is the engine's, listed there once

__version__ = "0.1.0"

__all__ = [*_engine.__all__, "predict_loss"]  # noqa: F405 -- lazy, see __getattr__

#: subpackages that need torch: imported on first use (``abcparam.coordcheck.check(...)`` works
#: after a plain ``import abcparam``; the engine alone never imports torch)
_LAZY = ("coordcheck", "torch", "transfer", "forecasts")


def __getattr__(name: str):
    if name == "predict_loss":  # the forecasts need scipy's optimiser: imported on first use
        from .forecasts import predict_loss

        return predict_loss
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
