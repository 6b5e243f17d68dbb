"""Coordinate checks: measure width-scaling slopes on torch models and compare with the engine."""

from .check import check, default_loss
from .run import CoordCheckConfig, CoordCheckResult, compare, run_coord_check, save
from .schema import AlignmentFit, Fit, NonFinite, Record

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
