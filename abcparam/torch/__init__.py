"""abcparam on torch: built-in models, applying derived rules to any nn.Module, optimizers."""

from ..extras import require_torch

# checked before importing torch: a clear message instead of a traceback
require_torch("abcparam.torch", ("torch",))

from .apply import ParamSpec, Spec, build_optimizer, param_groups, parametrize  # noqa: E402
from .checkpoint import load  # noqa: E402
from .layers import ScaledEmbedding, ScaledLayerNorm, ScaledLinear  # noqa: E402
from .losses import log_partition, with_z_loss, z_loss  # noqa: E402
from .mapping import UnmappedParameterError, map_parameters  # noqa: E402
from .models import GPT, MLP, MODELS, ResidualMLP, build_model  # noqa: E402
from .optim import AdamAtan2, Lion, Muon, OptimizerList  # noqa: E402
from .tied import TiedWeightsError, explain_tied, tied_rule  # noqa: E402
from .topology import Topology, discover_topology  # noqa: E402

__all__ = [
    "AdamAtan2",
    "Lion",
    "Muon",
    "OptimizerList",
    "GPT",
    "MLP",
    "MODELS",
    "ResidualMLP",
    "ParamSpec",
    "ScaledEmbedding",
    "ScaledLayerNorm",
    "ScaledLinear",
    "Spec",
    "TiedWeightsError",
    "Topology",
    "UnmappedParameterError",
    "build_model",
    "build_optimizer",
    "discover_topology",
    "explain_tied",
    "load",
    "log_partition",
    "map_parameters",
    "param_groups",
    "parametrize",
    "tied_rule",
    "with_z_loss",
    "z_loss",
]
