"""Coordinate checks: measure width-scaling slopes on torch models and compare with the engine."""

from .run import CoordCheckConfig, CoordCheckResult, compare, run_coord_check, save

__all__ = ["CoordCheckConfig", "CoordCheckResult", "compare", "run_coord_check", "save"]
