"""Where the lab reads and writes in this repository: ``experiments/results/`` (committed) and
``experiments/results/_latest/`` (what a main-job run writes, ignored by git).

The library never points into the repository; only the lab (this package) does.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["LATEST", "RESULTS_ENV", "repo_root", "results_dir", "saved_results"]

#: environment variable naming the folder experiments write into (see :func:`results_dir`)
RESULTS_ENV = "ABCPARAM_RESULTS"
#: the ignored folder a main-job run writes (experiments/results/_latest)
LATEST = "_latest"


def repo_root() -> Path:
    """The repository checkout holding this lab (``experiments/lab/`` sits two levels below it)."""
    return Path(__file__).resolve().parents[2]


def results_dir(*parts: str) -> Path:
    """Where an experiment WRITES: ``experiments/results/<parts>`` in the repository, or under
    ``$ABCPARAM_RESULTS`` when set (the main job sets ``experiments/results/_latest`` so that a
    run never rewrites the committed results)."""
    base = os.environ.get(RESULTS_ENV)
    root = Path(base) if base else repo_root() / "experiments" / "results"
    return root.joinpath(*parts)


def saved_results(*parts: str) -> Path:
    """Where to READ a result: ``experiments/results/_latest/<parts>`` when a main-job run wrote
    it, else the committed ``experiments/results/<parts>`` (what the book shows)."""
    committed = repo_root() / "experiments" / "results"
    latest = committed / LATEST / Path(*parts) if parts else committed / LATEST
    return latest if latest.exists() else committed.joinpath(*parts)
