"""Audit the provenance of saved results: was each produced by a commit in this history, from a
clean tree?

A result is *verified* when every provenance block in it names a git commit that is an ancestor
of ``HEAD`` and says the tracked files were unmodified (``git_dirty`` false).  Results that fail
are listed, with the reason, in ``experiments/legacy.json`` (``python -m experiments.lab.audit
--mark`` appends the new ones); the claims ledger may rest on none of them.  A ``runs.jsonl``
carries no block of its own: it is judged by the JSON files of its folder.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from abcparam.records import repo_root
from experiments.lab.paths import LATEST

__all__ = [
    "LEGACY_NAME",
    "audit",
    "blocks",
    "is_legacy",
    "load_legacy",
    "problems",
    "results_root",
]

#: the list of results whose provenance cannot be verified, beside experiments/results/
LEGACY_NAME = "legacy.json"


def results_root(root: Path | None = None) -> Path:
    """The committed results folder, ``experiments/results``."""
    return (root or repo_root()) / "experiments" / "results"


def blocks(obj: Any) -> Iterator[Mapping[str, Any]]:
    """Every provenance block inside a loaded result (a mapping holding ``git_commit``)."""
    if isinstance(obj, Mapping):
        if "git_commit" in obj:
            yield obj
        for value in obj.values():
            yield from blocks(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from blocks(value)


@cache
def _is_ancestor(commit: str, root: str) -> bool:
    out = subprocess.run(
        ["git", "-C", root, "merge-base", "--is-ancestor", commit, "HEAD"],
        capture_output=True,
        timeout=30,
    )
    return out.returncode == 0


def problems(block: Mapping[str, Any], root: Path | None = None) -> list[str]:
    """Why one provenance block cannot be trusted (empty when it can)."""
    root = root or repo_root()
    commit = block.get("git_commit")
    found = []
    if not commit:
        found.append("no git commit recorded")
    elif not _is_ancestor(str(commit), str(root)):
        found.append(f"commit {str(commit)[:10]} is not in this history")
    if block.get("git_dirty") is not False:
        state = "unknown tree state" if block.get("git_dirty") is None else "modified tree"
        found.append(f"{state} at {str(commit)[:10]}" if commit else state)
    return found


def audit(root: Path | None = None) -> dict[str, list[str]]:
    """``{path under experiments/results: [problems]}`` for every saved JSON result that fails
    (``_latest``, a main-job scratch run, excluded)."""
    root = root or repo_root()
    base = results_root(root)
    bad: dict[str, list[str]] = {}
    for path in sorted(base.rglob("*.json")):
        rel = path.relative_to(base).as_posix()
        if LATEST in path.relative_to(base).parts:
            continue
        found_blocks = list(blocks(json.loads(path.read_text())))
        found = {p for b in found_blocks for p in problems(b, root)}
        if not found_blocks:
            found.add("no provenance block")
        if found:
            bad[rel] = sorted(found)
    return bad


def load_legacy(root: Path | None = None) -> dict[str, str]:
    """``{path under experiments/results: reason}`` of the results marked legacy-unverified."""
    path = results_root(root).parent / LEGACY_NAME
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text())["legacy"])


def is_legacy(rel: str, legacy: Mapping[str, str]) -> bool:
    """Whether the result at ``rel`` (under experiments/results) is marked legacy; a file that is
    not JSON (a runs.jsonl, a summary.md) is legacy when a JSON file of its folder is."""
    if rel in legacy:
        return True
    if rel.endswith(".json"):
        return False
    folder = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
    return any(k.startswith(folder) and "/" not in k[len(folder) :] for k in legacy)


def mark(root: Path | None = None) -> dict[str, str]:
    """Add every failing result not yet listed to legacy.json (reasons from :func:`audit`) and
    drop the entries a clean rerun has retired."""
    failing = audit(root)
    legacy = {k: v for k, v in load_legacy(root).items() if k in failing}
    for rel, found in failing.items():
        legacy.setdefault(rel, "; ".join(found))
    path = results_root(root).parent / LEGACY_NAME
    body = {
        "about": "Saved results whose provenance cannot be verified: their commit is not in "
        "this history, or they were produced from a modified tree. Kept for reference and "
        "quoted nowhere (the claims ledger may not rest on them). Regenerate with "
        "`python -m experiments.lab.audit --mark`; rerun from a clean commit to retire an entry.",
        "legacy": dict(sorted(legacy.items())),
    }
    path.write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n")
    return legacy


def main(argv: list[str] | None = None) -> int:
    """List results that fail the audit and are not marked (exit 1 if any); ``--mark`` marks."""
    parser = argparse.ArgumentParser(prog="python -m experiments.lab.audit", description=__doc__)
    parser.add_argument("--mark", action="store_true", help="add failing results to legacy.json")
    args = parser.parse_args(argv)
    if args.mark:
        print(f"{len(mark())} results marked legacy-unverified")
    legacy = load_legacy()
    unmarked = {k: v for k, v in audit().items() if k not in legacy}
    for rel, found in unmarked.items():
        print(f"{rel}: {'; '.join(found)}")
    return 1 if unmarked else 0


if __name__ == "__main__":
    raise SystemExit(main())
