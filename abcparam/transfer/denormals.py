"""Denormal floats flushed to zero while a batched sweep trains, for speed on x86 CPUs.

A run that diverges drives its logits far apart, and its softmax (and so its gradient) underflows
into denormal floats (below 1.2e-38), which x86 multiplies through a slow microcode path.  In a
batched sweep whose LR grid reaches past the edge of stability, one such model slows the matrix
products that every model of the stack shares (the readout's weight gradient first).  Flushing
changes only values below 1.2e-38.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def flush_denormals() -> Iterator[bool]:
    """Flush denormals to zero inside the block (yields whether the CPU supports it), then
    switch flushing off again, torch's default."""
    supported = torch.set_flush_denormal(True)
    try:
        yield supported
    finally:
        if supported:
            torch.set_flush_denormal(False)


__all__ = ["flush_denormals"]
