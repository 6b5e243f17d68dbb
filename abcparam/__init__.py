"""abcparam: derive width-scaling rules (abc-parametrizations) from first principles.

``abcparam.rules("u-mup", optimizer="adam")`` derives a scheme's per-layer exponents exactly
(sympy); ``abcparam.derive(a=..., b=...)`` does it for any (a, b).  Importing this package needs
sympy only; torch is imported by ``abcparam.torch`` and ``abcparam.coordcheck``.
"""

from .engine.alignment import Alignment, make_alignment
from .engine.depth import DepthAlignment, make_depth_alignment
from .engine.exponents import LAYER_KINDS, L, N, canonical_kind
from .engine.optimizers import OPTIMIZERS, get_optimizer
from .engine.rules import LayerRule, Rules, derive, equivalent, reparametrize, rules
from .engine.schemes import SCHEMES, Scheme, get_scheme
from .engine.solve import NoStableParametrization

__version__ = "0.1.0"

__all__ = [
    "Alignment",
    "DepthAlignment",
    "L",
    "LAYER_KINDS",
    "LayerRule",
    "N",
    "NoStableParametrization",
    "OPTIMIZERS",
    "Rules",
    "SCHEMES",
    "Scheme",
    "canonical_kind",
    "derive",
    "equivalent",
    "get_optimizer",
    "get_scheme",
    "make_alignment",
    "make_depth_alignment",
    "reparametrize",
    "rules",
]

#: subpackages that need torch: imported on first use (``abcparam.coordcheck.check(...)`` works
#: after a plain ``import abcparam``; the engine alone never imports torch)
_LAZY = ("coordcheck", "torch", "transfer")


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
