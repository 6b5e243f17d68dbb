"""Coordinate checks: measure width-scaling slopes on torch models and compare with the engine."""

from ..extras import require_torch

# checked before importing torch: the install command instead of a raw ModuleNotFoundError
require_torch("abcparam.coordcheck")

from .builtin import builtin_batch, builtin_factory, run_coord_check  # noqa: E402
from .check import check, default_loss  # noqa: E402
from .compare import compare  # noqa: E402
from .options import CheckOptions  # noqa: E402
from .result import CoordCheckConfig, CoordCheckResult, save  # noqa: E402
from .schema import AlignmentFit, Fit, NonFinite, Record  # noqa: E402

__all__ = [
    "AlignmentFit",
    "CheckOptions",
    "CoordCheckConfig",
    "CoordCheckResult",
    "Fit",
    "NonFinite",
    "Record",
    "builtin_batch",
    "builtin_factory",
    "check",
    "compare",
    "default_loss",
    "run_coord_check",
    "save",
]
