"""Optional test dependencies: skipped locally when absent, required when ``CI`` is set.

The cross-library oracles (mup, unit-scaling) are what make those tests meaningful; in CI a
missing one must fail the run instead of silently skipping the comparison.
"""

import importlib
import os

import pytest


def need(name: str):
    """Import ``name``; without it, skip (locally) or fail (when the ``CI`` variable is set)."""
    if not os.environ.get("CI"):
        return pytest.importorskip(name)
    try:
        return importlib.import_module(name)
    except ImportError as error:
        pytest.fail(
            f"CI is set, so the oracle {name!r} is required, but it cannot be imported "
            f"({error}); `make setup` installs it",
            pytrace=False,
        )
