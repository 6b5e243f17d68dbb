"""Argument checks shared by the public functions and the command line (torch-free).

Every entry point checks all of its arguments before any training starts, so a typo costs a
second, not a run.  Each check raises :class:`ValueError` (or :class:`TypeError` for a value of
the wrong type) whose message names the bad value and the accepted ones; the command line turns
it into one line on stderr and exit status 2.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any

__all__ = [
    "LOG2_LR_LIMIT",
    "MAX_DEPTH",
    "MAX_HIDDEN_LAYERS",
    "MAX_STEPS",
    "MAX_LRS",
    "MAX_RUNS",
    "boolean",
    "choice",
    "key_values",
    "lr_range",
    "positive_float",
    "positive_int",
    "widths",
    "writable_dir",
]


#: ceilings checked before any grid is built (a typo in a step must not fill the memory)
MAX_LRS = 1_000  # points of a learning-rate grid
MAX_RUNS = 100_000  # runs of a sweep
LOG2_LR_LIMIT = 64  # |log2 lr| beyond this is no learning rate (2**1024 overflows a float)
MAX_STEPS = 10_000  # steps of a coordinate check (it measures a few; more is a typo)
MAX_DEPTH = 1_024  # blocks or hidden layers of a built-in model (time grows with it)
MAX_HIDDEN_LAYERS = 64  # hidden layers of the engine's chain (rules(hidden_layers=...))


def positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (default 1); a bool, a float or text that is not an
    integer is refused."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text)
        except ValueError:
            raise ValueError(
                f"{name} = {text!r} is not an integer; accepted: an integer >= {minimum}"
            ) from None
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(
            f"{name} = {value!r} ({type(value).__name__}); accepted: an integer >= {minimum}"
        )
    if value < minimum:
        raise ValueError(f"{name} = {value}; accepted: an integer >= {minimum}")
    return int(value)


def positive_float(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """``value`` as a finite float > 0 (>= 0 with ``allow_zero``); nan and inf are refused."""
    what = "a finite number >= 0" if allow_zero else "a finite number > 0"
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{name} = {text!r} is not a number; accepted: {what}") from None
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} = {value!r} ({type(value).__name__}); accepted: {what}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} = {value}; accepted: {what}")
    return value


def widths(value: str | Iterable[Any], name: str = "widths") -> tuple[int, ...]:
    """Model widths: at least two distinct positive integers (a slope or a transfer needs two).

    Accepts ``"128,256,512"`` or a sequence of ints.
    """
    example = "e.g. 128,256,512"
    if isinstance(value, str):
        items: Sequence[Any] = [v.strip() for v in value.split(",")]
        shown = value
    else:
        try:
            items = list(value)
        except TypeError:
            raise TypeError(
                f"{name} = {value!r}; accepted: a list of at least two distinct positive "
                f"integers ({example})"
            ) from None
        shown = str(items)
    out = []
    for item in items:
        try:
            out.append(positive_int(item, "width"))
        except (ValueError, TypeError):
            raise ValueError(
                f"{name} = {shown!r}: {item!r} is not a positive integer; accepted: at least two "
                f"distinct positive integers ({example})"
            ) from None
    if len(out) < 2:
        raise ValueError(
            f"{name} = {shown!r}: need at least two widths to measure how anything scales with "
            f"width ({example})"
        )
    repeated = sorted({w for w in out if out.count(w) > 1})
    if repeated:
        raise ValueError(
            f"{name} = {shown!r}: width {repeated[0]} appears twice; accepted: distinct widths "
            f"({example})"
        )
    return tuple(out)


def lr_range(text: str, name: str = "lrs") -> list[float]:
    """A log2 learning-rate grid ``lo:hi`` (step 1) or ``lo:hi:step``, both ends included.

    The ends must be finite with lo < hi, ``(hi - lo) / step`` a whole number (so the grid ends
    at ``hi``).  (An optimum inside the grid needs a point on either side; one found on an edge
    is reported as a bound by the analysis.)
    """
    accepted = "lo:hi or lo:hi:step (log2 learning rates, lo < hi), e.g. -12:-2"
    parts = [p.strip() for p in str(text).split(":")]
    if len(parts) not in (2, 3):
        raise ValueError(f"{name} = {text!r}; accepted: {accepted}")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"{name} = {text!r} holds a non-number; accepted: {accepted}") from None
    if not all(math.isfinite(x) for x in numbers):
        raise ValueError(f"{name} = {text!r} holds a non-finite number; accepted: {accepted}")
    lo, hi = numbers[:2]
    if max(abs(lo), abs(hi)) > LOG2_LR_LIMIT:
        raise ValueError(
            f"{name} = {text!r}: log2 learning rates beyond +-{LOG2_LR_LIMIT} (2**{LOG2_LR_LIMIT} "
            f"= {2.0**LOG2_LR_LIMIT:.3g}) are no learning rates; accepted: {accepted}"
        )
    step = numbers[2] if len(numbers) == 3 else 1.0
    if lo >= hi:
        raise ValueError(f"{name} = {text!r}: the low end {lo:g} is not below the high end {hi:g}")
    if step <= 0:
        raise ValueError(f"{name} = {text!r}: the step {step:g} must be positive")
    count = (hi - lo) / step
    if abs(count - round(count)) > 1e-9:
        raise ValueError(
            f"{name} = {text!r}: {hi:g} - ({lo:g}) is not a whole number of steps of {step:g}; "
            f"the grid would silently stop short of {hi:g}"
        )
    n = int(round(count)) + 1
    if n > MAX_LRS:  # counted, not built: a tiny step must not fill the memory
        raise ValueError(
            f"{name} = {text!r} gives {n:,} learning rates; accepted: at most {MAX_LRS:,} "
            f"(a larger step)"
        )
    if n < 2:
        raise ValueError(
            f"{name} = {text!r} gives {n} learning rate(s); a sweep needs at least 2 "
            f"(accepted: {accepted})"
        )
    return [lo + i * step for i in range(n)]


def boolean(value: Any, name: str) -> bool:
    """``value`` if it is a bool (True/False); ``"no"``, 0 or None are refused, not read as truth."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} = {value!r} ({type(value).__name__}); accepted: True or False")
    return value


def key_values(
    text: str,
    name: str,
    example: str,
    canon: Any = None,
    parse: Callable[[str, str], Any] | None = None,
) -> dict[str, Any]:
    """``"k1=v1,k2=v2"`` as ``{k1: v1, ...}`` (each value ``parse(key, value)`` when given); a
    part without ``=`` or a key given twice (after ``canon``, e.g. a kind's alias) is an error,
    never a silent last-one-wins."""
    out: dict[str, Any] = {}
    shown: dict[str, str] = {}
    for part in str(text).split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(
                f"{name} = {text!r}: {part.strip()!r} is not KEY=VALUE; e.g. {example}"
            )
        k = canon(key.strip()) if canon is not None else key.strip()
        if k in out:
            raise ValueError(
                f"{name} = {text!r} sets {k!r} twice ({shown[k]!r} and {part.strip()!r}); "
                f"accepted: each key once"
            )
        out[k] = value.strip() if parse is None else parse(k, value.strip())
        shown[k] = part.strip()
    return out


def choice(value: Any, accepted: Iterable[str], name: str) -> str:
    """``value`` if it is one of ``accepted``; else an error listing them."""
    accepted = tuple(accepted)
    if value not in accepted:
        raise ValueError(f"unknown {name} {value!r}; accepted: {', '.join(accepted)}")
    return value


def writable_dir(path: str | os.PathLike[str], name: str = "out") -> Path:
    """Create the folder ``path`` (with its parents) and check that a file can be written there,
    so a result is never lost to a bad path after the work is done."""
    if isinstance(path, bool) or not isinstance(path, str | os.PathLike):
        raise TypeError(f"{name} = {path!r}; accepted: a folder path")
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{name} = {str(folder)!r} is a file, not a folder; give a folder path")
    for parent in folder.parents:
        if parent.exists() and not parent.is_dir():
            raise ValueError(
                f"{name} = {str(folder)!r} lies under {str(parent)!r}, which is a file; give a "
                f"folder path"
            )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ValueError(
            f"{name} = {str(folder)!r} cannot be created or written ({err.strerror or err})"
        ) from None
    return folder
