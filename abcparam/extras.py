"""Optional dependencies: the engine needs sympy/numpy/scipy only; checks and sweeps need the
``torch`` extra (torch, matplotlib, tqdm).  A missing extra is named with the command that
installs it, not shown as a traceback."""

from __future__ import annotations

import importlib.util

#: the packages of the ``torch`` extra (pyproject ``[project.optional-dependencies] torch``)
TORCH_EXTRA = ("torch", "matplotlib", "tqdm")
#: the torch release the tests pin (Makefile ``setup``); the hint installs its CPU build first,
#: since a plain ``pip install 'abcparam[torch]'`` resolves to the newest CUDA build (~17 nvidia
#: packages, gigabytes) on Linux
TORCH_PIN = "2.13.0"
INSTALL_HINT = (
    f"pip install torch=={TORCH_PIN} --index-url https://download.pytorch.org/whl/cpu "
    "&& pip install 'abcparam[torch]' (the CPU build; for a GPU, first install the torch build "
    "for your CUDA from pytorch.org)"
)


class MissingExtra(ModuleNotFoundError):
    """An optional dependency of abcparam is not installed."""


def missing(packages: tuple[str, ...] = TORCH_EXTRA) -> list[str]:
    """The packages among ``packages`` that cannot be imported."""
    return [p for p in packages if not _importable(p)]


def _importable(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # a broken or blocked install counts as missing
        return False


def message(what: str, absent: list[str] | tuple[str, ...]) -> str:
    """``"<what> needs the torch extra (missing: torch): pip install torch==... && ..."``."""
    return f"{what} needs the torch extra (missing: {', '.join(absent)}): {INSTALL_HINT}"


def require_torch(what: str, packages: tuple[str, ...] = TORCH_EXTRA) -> None:
    """Raise :class:`MissingExtra` naming ``what`` and the install command if any is missing."""
    absent = missing(packages)
    if absent:
        raise MissingExtra(message(what, absent), name=absent[0])
