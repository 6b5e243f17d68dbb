"""Coordinate checks: measure width-scaling slopes on torch models and compare with the engine."""

from ..extras import require_torch

# checked before importing torch: the install command instead of a raw ModuleNotFoundError
require_torch("abcparam.coordcheck")

from .check import check, default_loss  # noqa: E402
from .run import CoordCheckConfig, CoordCheckResult, compare, run_coord_check, save  # noqa: E402
from .schema import AlignmentFit, Fit, NonFinite, Record  # noqa: E402

__all__ = [
    "AlignmentFit",
    "CoordCheckConfig",
    "CoordCheckResult",
    "Fit",
    "NonFinite",
    "Record",
    "check",
    "compare",
    "default_loss",
    "run_coord_check",
    "save",
]
