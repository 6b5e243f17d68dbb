"""abcparam on torch: built-in models, applying derived rules to any nn.Module, optimizers."""

from .apply import ParamSpec, Spec, build_optimizer, parametrize
from .layers import ScaledEmbedding, ScaledLayerNorm, ScaledLinear
from .mapping import UnmappedParameterError, map_parameters
from .models import GPT, MLP
from .optim import AdamAtan2

__all__ = [
    "AdamAtan2",
    "GPT",
    "MLP",
    "ParamSpec",
    "ScaledEmbedding",
    "ScaledLayerNorm",
    "ScaledLinear",
    "Spec",
    "UnmappedParameterError",
    "build_optimizer",
    "map_parameters",
    "parametrize",
]
