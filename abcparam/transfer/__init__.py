"""Learning-rate transfer across widths: sweeps, analysis, plots."""

from .analysis import optimum_log2_lr, summarise, table
from .sweep import RunConfig, grid, run_sweep, train

__all__ = ["RunConfig", "grid", "optimum_log2_lr", "run_sweep", "summarise", "table", "train"]
