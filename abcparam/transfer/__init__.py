"""Learning-rate transfer: sweeps across widths (``abcparam.transfer.sweep``), their analysis
and plots, and the proxy-to-target calculator: ``abcparam.transfer(base=..., target=...)``.

The package itself is callable (its module class has ``__call__``), so ``abcparam.transfer(...)``
runs :func:`abcparam.calculator.transfer` while ``abcparam.transfer.sweep`` and
``from abcparam.transfer import grid`` keep working.  Nothing here imports torch until a run
trains.
"""

import sys
import types

from ..calculator import transfer
from .analysis import optimum_log2_lr, summarise, table
from .sweep import RunConfig, grid, run_sweep, train


class _CallableModule(types.ModuleType):
    """``abcparam.transfer(...)``: the calculator (see abcparam.calculator.transfer)."""

    def __call__(self, *args, **kwargs):
        return transfer(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["RunConfig", "grid", "optimum_log2_lr", "run_sweep", "summarise", "table", "train"]
