"""The claims ledger: every number the README and the book quote, with its command, its raw files
and the function that recomputes it (experiments/claims.toml).

A quoted number is written followed by its marker, ``619/619<!--claim:cc-grid-measured-->`` (an
HTML comment: invisible in the rendered page).  :func:`check_text` finds every marker and every
unmarked measured-looking number (a decimal, a count ``n/m``, a percentage, a time), so a stale
value or a number without a ledger entry fails ``tests/lab/test_claims.py``.  A number that is a
setting rather than a measurement (a tolerance, a learning rate) is marked ``<!--given-->``
right after it, or ``<!--given:0.2-->`` anywhere on its line (inside math or a table).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abcparam.records import repo_root

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["Claim", "check_text", "load_ledger", "measured_numbers", "raw_paths", "recompute"]

LEDGER = Path("experiments") / "claims.toml"
MARKER = re.compile(r"<!--\s*claim:([\w.-]+)\s*-->")
GIVEN = re.compile(r"<!--\s*given\s*-->")
GIVEN_VALUE = re.compile(r"<!--\s*given:\s*(\S+?)\s*-->")
#: what a measurement looks like in prose: a signed decimal, a count n/m (m >= 10, so not an
#: exponent like 1/2), a percentage, a duration
NUMBER = re.compile(
    r"(?<![\w.])[+\-−±~≈]?\d+\.\d+(?:\s?(?:%|s|ms|µs|min)\b)?"
    r"|(?<![\w./])\d+/\d{2,}(?![\w/])"
    r"|(?<![\w.])\d+\s?%"
    r"|(?<![\w.])\d+\s?(?:s|ms|µs|min)\b(?!-)"
)
FENCE = re.compile(r"^(```|~~~)")
#: a numbered place in a paper (TP-V Def. 4.1, Claims 7.2–7.4, Eq. 12), not a measurement
CITED = re.compile(
    r"\b(?:Defs?\.|Definitions?|Claims?|Eqs?\.|Equations?|Tables?|Sections?|Sec\.|§|Lemmas?|"
    r"Theorems?|Thm\.|Appendix|Figs?\.|Figures?|Props?\.|Propositions?|Corollary|Cor\.)"
    r"\s*[A-Z]?\d+(?:\.\d+)*(?:\s*[–-]\s*[A-Z]?\d+(?:\.\d+)*)?"
)


@dataclass(frozen=True)
class Claim:
    """One quoted number: its text as quoted, how to remeasure it and how to recompute it."""

    id: str
    text: str
    what: str
    command: str
    raw: tuple[str, ...]
    recompute: str
    format: str
    args: dict[str, Any] = field(default_factory=dict)
    seeds: int | None = None


def load_ledger(root: Path | None = None) -> list[Claim]:
    """Every claim of experiments/claims.toml, in file order (ids are unique)."""
    data = tomllib.loads(((root or repo_root()) / LEDGER).read_text())
    claims = [
        Claim(
            id=c["id"],
            text=c["text"],
            what=c["what"],
            command=c["command"],
            raw=tuple(c["raw"]),
            recompute=c["recompute"],
            format=c["format"],
            args=dict(c.get("args", {})),
            seeds=c.get("seeds"),
        )
        for c in data["claim"]
    ]
    ids = [c.id for c in claims]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ValueError(f"claim ids used twice in {LEDGER}: {duplicated}")
    return claims


def raw_paths(claim: Claim, root: Path | None = None) -> list[Path]:
    """The claim's raw files (globs under experiments/results expanded, sorted)."""
    base = (root or repo_root()) / "experiments" / "results"
    found: list[Path] = []
    for pattern in claim.raw:
        matches = sorted(base.glob(pattern))
        if not matches:
            raise FileNotFoundError(f"claim {claim.id}: no raw file matches {pattern!r}")
        found += matches
    return found


def recompute(claim: Claim, root: Path | None = None) -> str:
    """The claim's text recomputed from its raw files."""
    from .claims import RECOMPUTE

    if claim.recompute not in RECOMPUTE:
        raise KeyError(
            f"claim {claim.id}: recompute function {claim.recompute!r} unknown; "
            f"accepted: {', '.join(RECOMPUTE)}"
        )
    values = RECOMPUTE[claim.recompute](raw_paths(claim, root), **claim.args)
    return claim.format.format(**values).replace("-", "−")


def _prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) outside fenced code, with inline code and numbered places in papers
    blanked out (math is kept: a measured number in math is still a measured number)."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if fenced:
            continue
        line = re.sub(r"`[^`]*`", "``", line)
        yield number, CITED.sub("", line)


def measured_numbers(text: str) -> list[tuple[int, str]]:
    """Unmarked measured-looking numbers in prose: (line, number)."""
    found = []
    for number, line in _prose_lines(text):
        given = GIVEN_VALUE.findall(line)  # <!--given:0.2-->: that value, anywhere on this line
        line = GIVEN_VALUE.sub("", GIVEN.sub("", re.sub(r"(\S+)<!--\s*given\s*-->", "", line)))
        for value in given:
            line = line.replace(value, "")
        for match in NUMBER.finditer(MARKER.sub("", line)):
            found.append((number, match.group(0)))
    return found


def check_text(text: str, claims: dict[str, Claim]) -> list[str]:
    """Problems of one README or book page: a marker naming no claim, a marked value that is not
    the ledger's text, a measured-looking number without a marker."""
    problems = []
    marked = text
    for match in reversed(list(MARKER.finditer(text))):
        cid = match.group(1)
        line = text.count("\n", 0, match.start()) + 1
        claim = claims.get(cid)
        if claim is None:
            problems.append(f"line {line}: marker names no claim: {cid}")
            continue
        before = text[: match.start()]
        head = before[: len(before) - len(claim.text)]
        if not before.endswith(claim.text) or (head and (head[-1].isalnum() or head[-1] in ".,/")):
            tail = before[-len(claim.text) - 8 :].split("\n")[-1]
            problems.append(
                f"line {line}: {cid} is {claim.text!r} in the ledger, text has {tail!r}"
            )
            continue
        marked = marked[: match.start() - len(claim.text)] + marked[match.end() :]
    problems += [f"line {n}: {v!r} is not in the ledger" for n, v in measured_numbers(marked)]
    return problems
