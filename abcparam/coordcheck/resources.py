"""Memory and time checked before a check trains anything: the device exists, the step count
is under a stated ceiling, and every width's model is built once on the ``meta`` device (shapes
only, no memory), which surfaces a factory's errors (a width that is not a multiple of the head
count) for every width before the first trains and gives its parameter count; parameters x
their dtype's size x 5 (weights, gradients, two optimizer moments, the recorder's copy of the
initial weights) must fit in the device's free memory.  Activations are not counted.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import torch
from torch import nn

from .. import validate

#: documented upper bounds (validate.py): a coordinate check measures a few steps
MAX_STEPS = validate.MAX_STEPS
#: tensors per parameter a check holds: weight, gradient, two optimizer moments, initial copy
COPIES = 5
DEVICE_TYPES = ("cpu", "cuda", "mps")


class FactoryError(ValueError):
    """The user's model factory or batch function failed before training (bad input)."""


def check_device(device: str) -> torch.device:
    """``device`` as a torch.device that exists here: a known type (cpu, cuda, cuda:N, mps) that
    this torch can use; ``meta`` (shapes only) cannot train."""
    accepted = "cpu, cuda, cuda:N, mps"
    if not isinstance(device, str | torch.device):
        raise TypeError(f"device = {device!r}; accepted: {accepted}")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(
            f"device = {str(device)!r} is not a device; accepted: {accepted}"
        ) from None
    if dev.type == "meta":
        raise ValueError(
            f"device = {str(device)!r} holds shapes only, no values, so nothing can train there; "
            f"accepted: {accepted}"
        )
    if dev.type not in DEVICE_TYPES:
        raise ValueError(f"device = {str(device)!r}; accepted: {accepted}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device = {str(device)!r}, but this torch has no usable CUDA device (torch "
                f"{torch.__version__}); accepted here: cpu"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device = {str(device)!r}: there are {torch.cuda.device_count()} CUDA devices "
                f"(cuda:0 .. cuda:{torch.cuda.device_count() - 1})"
            )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device = {str(device)!r}, but MPS is not available here; accepted: cpu")
    return dev


def free_bytes(device: torch.device) -> int | None:
    """Free memory on ``device`` (CUDA: the driver's count; CPU: MemAvailable), None if unknown."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type == "cpu":
        try:
            with open("/proc/meminfo") as meminfo:
                for line in meminfo:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    return None


def model_bytes(model: nn.Module) -> tuple[int, int]:
    """(parameter count, bytes a check holds for them: COPIES x count x element size)."""
    count = sum(p.numel() for p in model.parameters())
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    return count, COPIES * size


def _gb(n: float) -> str:
    return f"{n / 1e9:.3g} GB"


def check_resources(
    build: Callable[[int], nn.Module],
    widths: Iterable[int],
    steps: int,
    device: str,
    *,
    yours: bool = False,
) -> None:
    """Refuse, before any training, what cannot run: an unknown or absent ``device``, more than
    MAX_STEPS steps, a width whose model ``build`` cannot make (``yours``: the user's factory,
    reported as such) or whose parameters would not fit in free memory."""
    dev = check_device(device)
    validate.positive_int(steps, "steps")
    if steps > MAX_STEPS:
        raise ValueError(f"steps = {steps}; accepted: at most {MAX_STEPS:,} for a coordinate check")
    free = free_bytes(dev)
    ordered = sorted(widths)
    for width in ordered:
        try:
            with torch.device("meta"):
                model = build(width)
        except Exception as err:  # noqa: BLE001 - reported, with what raised it
            if yours and width == ordered[0] and _builds_for_real(build, width):
                return  # a factory that needs real tensors: nothing more to check cheaply
            if yours:  # it builds on meta at a smaller width: this width is the problem
                raise FactoryError(
                    f"your factory raised {type(err).__name__} at width {width}: {err}"
                ) from None
            raise ValueError(f"width {width}: {err}") from None
        if not isinstance(model, nn.Module):
            raise FactoryError(
                f"your factory returned {type(model).__name__} at width {width}, not an nn.Module"
            )
        count, need = model_bytes(model)
        if free is not None and need > free:
            raise ValueError(
                f"width {width}: {count:,} parameters need about {_gb(need)} (x{COPIES}: weights, "
                f"gradients, optimizer state, initial copy), more than the {_gb(free)} free on "
                f"{dev}; accepted: widths whose models fit"
            )


def _builds_for_real(build: Callable[[int], nn.Module], width: int) -> bool:
    """Does ``build`` work off the meta device at ``width`` (the smallest, cheap)?"""
    try:
        build(width)
    except Exception as err:  # noqa: BLE001
        raise FactoryError(
            f"your factory raised {type(err).__name__} at width {width}: {err}"
        ) from None
    return True
