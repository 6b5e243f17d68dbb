"""The CLI's one door into the repository's lab (``experiments/lab/``): the main job and the book
build live in the checkout, not in the installed package, so they run only inside one."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

LAB = Path("experiments") / "lab" / "__init__.py"


def checkout_root(start: Path | None = None) -> Path | None:
    """The repository checkout holding the lab: the working directory or one of its parents."""
    here = (start or Path.cwd()).resolve()
    return next((d for d in (here, *here.parents) if (d / LAB).is_file()), None)


def lab_module(name: str, command: str) -> ModuleType:
    """Import ``experiments.lab.<name>`` from the checkout around the working directory; outside
    one, a one-line error naming the command and where it must run."""
    root = checkout_root()
    if root is None:
        raise SystemExit(
            f"error: `abcparam {command}` runs inside a clone of the abcparam repository "
            f"(it needs {LAB.parent}/); run it from the clone's folder"
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module(f"experiments.lab.{name}")
