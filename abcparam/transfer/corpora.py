"""The character corpora a horizon run can train on, by name; reading them needs no torch.

- ``pydoc``: the language-reference topics ``help()`` shows (``pydoc_data.topics``), ~465k
  characters; at batch 32 and context 32 a 4,000-step run passes over it about ten times.
- ``stdlib``: the source of the standard library's top-level modules (``Lib/*.py``, sorted by
  file name), ~4.7M characters on CPython 3.11: ten times the pydoc text, so a run of 4,000 steps
  at batch 32 sees it about once, the single-pass regime of Wang & Aitchison (arXiv 2405.13698)
  and Power Lines (arXiv 2505.13738), where the data size D grows with T·B.
Both ship with CPython; the saved runs record each text's fingerprint, since they differ between
Python versions.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

from .. import validate

#: every corpus name (the default first: runs that name it keep their earlier keys)
CORPORA = ("pydoc", "stdlib")


def check_corpus(name: str) -> str:
    """``name`` if it is a corpus, else a ValueError naming it and the accepted ones."""
    return validate.choice(name, CORPORA, "corpus")


def stdlib_source() -> str:
    """The running CPython's top-level standard-library modules, concatenated in file-name
    order (UTF-8, as PEP 3120 requires of them)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(root.glob("*.py"))
    if not files:
        raise FileNotFoundError(f"no *.py file in the standard library folder {root}")
    return "".join(path.read_text(encoding="utf-8") for path in files)
