"""Denormal floats flushed to zero while a batched sweep trains, for speed on x86 CPUs.

A run that diverges drives its logits far apart, and its softmax (and so its gradient) underflows
into denormal floats (below 1.2e-38), which x86 multiplies through a slow microcode path.  In a
batched sweep whose LR grid reaches past the edge of stability, one such model slows the matrix
products that every model of the stack shares (the readout's weight gradient first).  Flushing
changes only values below 1.2e-38.

The flush is a per-thread CPU flag (MXCSR), and ``torch.set_flush_denormal`` sets it on the
calling thread only.  Torch's OpenMP workers, once started, keep the flag they were started with,
so a process that ran any parallel op before the block would flush in the main thread and not in
the workers (measured: a 16-LR GPT sweep 40 % slower at two threads).  The block therefore sets
the flag on every thread of the OpenMP pool, by running ``torch.set_flush_denormal`` as the body
of one parallel region (libgomp's ``GOMP_parallel``, through ctypes).
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

_Body = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


@functools.cache
def _openmp_parallel() -> Callable | None:
    """libgomp's ``GOMP_parallel(fn, data, n_threads, flags)`` from the OpenMP runtime torch
    ships, or else the system's (the one a torch linked against it has loaded); None where
    torch is not built with OpenMP or no libgomp is found."""
    if "OpenMP" not in torch.__config__.parallel_info():
        return None
    shipped = sorted((Path(torch.__file__).parent / "lib").glob("libgomp*.so*"))
    for path in [*map(str, shipped), "libgomp.so.1"]:
        try:
            fn = ctypes.CDLL(path).GOMP_parallel
        except (OSError, AttributeError):
            continue
        fn.argtypes = [_Body, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
        fn.restype = None
        return fn
    return None


def set_flush_denormal_everywhere(flush: bool) -> bool:
    """Set the flush flag on the calling thread and on every thread of torch's OpenMP pool
    (``torch.get_num_threads()`` of them); returns whether the CPU supports flushing."""
    supported = torch.set_flush_denormal(flush)
    parallel = _openmp_parallel()
    # (not while the interpreter shuts down: a worker could no longer take the GIL to run it)
    if (
        supported
        and parallel is not None
        and torch.get_num_threads() > 1
        and not sys.is_finalizing()
    ):
        body = _Body(lambda _data: torch.set_flush_denormal(flush))
        parallel(body, None, torch.get_num_threads(), 0)
    return supported


@contextmanager
def flush_denormals() -> Iterator[bool]:
    """Flush denormals to zero inside the block on every torch thread (yields whether the CPU
    supports it), then switch flushing off again, torch's default."""
    supported = set_flush_denormal_everywhere(True)
    try:
        yield supported
    finally:
        if supported:
            set_flush_denormal_everywhere(False)


__all__ = ["flush_denormals", "set_flush_denormal_everywhere"]
