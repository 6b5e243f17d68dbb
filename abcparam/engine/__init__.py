"""The symbolic engine: exact width exponents derived from the constraints (sympy, numpy, scipy only).

Flow: ``schemes`` (what defines a scheme) -> ``optimizers`` (each optimizer's update model) ->
``alignment`` -> ``recursion`` (the feature-change recursion, each form with its ``Reason``) ->
``solve`` (the largest stable c) -> ``derive`` (a :class:`Rules`: ``rules_types`` holds its data,
``render`` and ``front`` its views, ``rules_table`` the class, ``symmetry`` the abc-symmetry) ->
``rules`` (the cached public face) -> ``predict`` (slopes a coordinate check should measure) and
``epsilon`` (Adam epsilon crossovers).  Nothing here imports torch.
"""

from .alignment import Alignment, make_alignment
from .depth import DepthAlignment, make_depth_alignment
from .exponents import LAYER_KINDS, L, N, canonical_kind
from .optimizers import OPTIMIZERS, get_optimizer
from .rules import LayerRule, Rules, derive, equivalent, reparametrize, rules
from .schemes import SCHEMES, Scheme, get_scheme
from .solve import NoStableParametrization

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
