"""Interrupts that keep what was finished: SIGTERM raises KeyboardInterrupt as SIGINT does, so a
sweep or a coordinate check stops its workers, keeps its finished runs on disk and exits with
status 130 (the same path as Ctrl-C), instead of dying silently with status 143.  Pool workers
die with their parent, even when the parent is killed with SIGKILL (a parent-death signal).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Iterator

__all__ = ["die_with_parent", "interrupt_on_sigterm"]

#: prctl option asking the kernel to signal this process when its parent dies (linux/prctl.h)
PR_SET_PDEATHSIG = 1


@contextlib.contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def die_with_parent(parent: int | None = None) -> None:
    """Pool-worker initializer: have the kernel SIGKILL this process when its parent dies (Linux
    ``prctl(PR_SET_PDEATHSIG)``), and exit at once if the parent ``parent`` is already gone.
    Elsewhere (no prctl) the pool's own shutdown is all there is."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent is not None and os.getppid() != parent:  # died before the prctl took effect
        os._exit(1)
