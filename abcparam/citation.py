"""How to cite abcparam and one of its derivations: a ready BibTeX entry with the version.

Each derivation page of the book has a stable label (``derivation-sgd``, ...); the entry names it,
so a citation keeps pointing at the same derivation when titles change.
"""

from __future__ import annotations

import re

from . import __version__

#: The release date of this version (as in CITATION.cff).
DATE = "2026-11-24"


def bibtex(label: str | None = None, title: str | None = None) -> str:
    """A BibTeX ``@software`` entry for the package, or for one derivation (``label``).

    >>> print(bibtex("derivation-sgd", "SP, NTP, MFP and muP under SGD").splitlines()[0])
    @software{abcparam_derivation_sgd,
    """
    if label is not None and not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", label):
        raise ValueError(
            f"label {label!r}: expected lowercase words joined by '-', e.g. derivation-sgd"
        )
    key = "abcparam" + ("" if label is None else "_" + label.replace("-", "_"))
    what = (
        "abcparam: width-scaling rules derived from first principles and checked on real networks"
    )
    if label is not None:
        what = f"abcparam, {label}" + (f": {title}" if title else "")
    note = f"version {__version__}" + ("" if label is None else f", book section {label}")
    return "\n".join(
        [
            f"@software{{{key},",
            f"  title = {{{what}}},",
            "  author = {{abcparam developers}},",
            f"  version = {{{__version__}}},",
            f"  year = {{{DATE[:4]}}},",
            f"  date = {{{DATE}}},",
            f"  note = {{{note}}},",
            "}",
        ]
    )


def bibtex_markdown(label: str | None = None, title: str | None = None) -> str:
    """The entry as a fenced code block, for a book page."""
    return "```bibtex\n" + bibtex(label, title) + "\n```"
