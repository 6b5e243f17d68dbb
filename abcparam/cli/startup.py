"""Start-up time of a training command: seconds from process start to the first optimizer step.

The coordinate check reports it (issue 29, item 6: at most 2 s on the built-in GPT), so a slow
import or an eager derivation shows up in every run's output rather than only in a benchmark.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

#: this module's import time: the fallback start where /proc is not available (not Linux)
_IMPORTED = time.time()


def process_age() -> float:
    """Seconds since this process started (Linux: from /proc; elsewhere: since abcparam.cli
    was imported, which leaves out the interpreter's own start)."""
    try:
        with open("/proc/self/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as uptime:
            now = float(uptime.read().split()[0])
        return now - int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
    except (OSError, ValueError, IndexError, AttributeError):
        return time.time() - _IMPORTED


class FirstStep:
    """When the first optimizer step of this process began: ``seconds`` after process start
    (None until a step runs)."""

    seconds: float | None = None


@contextmanager
def first_step() -> Iterator[FirstStep]:
    """Within the block, record the process age at the first ``torch.optim`` step (a global
    step pre-hook, removed on the first call and on exit)."""
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    found = FirstStep()

    def hook(optimizer, args, kwargs) -> None:
        if found.seconds is None:
            found.seconds = process_age()
            handle.remove()

    handle = register_optimizer_step_pre_hook(hook)
    try:
        yield found
    finally:
        handle.remove()
