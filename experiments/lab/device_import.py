"""Bring a device run's results into ``experiments/results`` with provenance that names the code
that ran.

The device machine gets this checkout's working tree, but its git metadata is the checkout's as
the session began.  Its provenance blocks therefore name that older commit (the *snapshot*) with
a "modified" tree.  The files it reports modified are checked against the commit whose tree was
sent: they must be exactly the tracked files that commit changed since the snapshot (files it
added were untracked there and are not reported).  When they are, each block is re-attributed to
that commit, and the device's own record is kept beside it under ``device_checkout``; when they
are not, nothing is imported.

Run: ``python -m experiments.lab.device_import CODE_STATE SENT_COMMIT SRC DEST [SRC DEST ...]``
(CODE_STATE: ``git rev-parse HEAD`` then ``git status --porcelain --untracked-files=no`` as the
device printed them; SRC a result folder brought back, DEST its place under experiments/results).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from abcparam.records import repo_root, save_json
from experiments.lab.audit import blocks, results_root

#: result files whose state does not describe the code (the results themselves)
_NOT_CODE = "experiments/results/"


def read_code_state(text: str) -> tuple[str, set[str]]:
    """(snapshot commit, tracked files the device saw modified) from its printed code state."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or len(lines[0].strip()) != 40:
        raise ValueError(f"code state starts with {lines[:1]!r}; accepted: a 40-hex commit line")
    modified = set()
    for line in lines[1:]:
        path = line[3:].strip()
        if not path.startswith(_NOT_CODE):
            modified.add(path)
    return lines[0].strip(), modified


def _git(*args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo_root()), *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise ValueError(f"git {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def verify_sent(snapshot: str, sent: str, modified: set[str]) -> None:
    """Raise unless ``modified`` is exactly what ``sent`` changed (not added) since ``snapshot``
    outside the results, and ``sent`` descends from ``snapshot``."""
    _git("merge-base", "--is-ancestor", snapshot, sent)
    changed = {
        p
        for p in _git("diff", "--name-only", "--diff-filter=MDRT", snapshot, sent).split()
        if not p.startswith(_NOT_CODE)
    }
    if changed != modified:
        raise ValueError(
            f"the device's modified files {sorted(modified)} are not the files {sent[:10]} "
            f"changed since {snapshot[:10]} ({sorted(changed)}): its code was not {sent[:10]}"
        )


def reattribute(obj: Any, snapshot: str, sent: str) -> int:
    """Re-attribute, in place, every provenance block naming ``snapshot`` to ``sent`` (clean),
    keeping the device's record under ``device_checkout``; returns how many were changed."""
    count = 0
    for block in list(_blocks_of(obj, snapshot)):
        # renamed: a nested "git_commit" would read as a second provenance block
        record = {k[4:]: block.get(k) for k in ("git_commit", "git_dirty", "git_modified")}
        block.update(git_commit=sent, git_dirty=False, git_modified=[])
        block["device_checkout"] = {
            **record,
            "note": "the device's git metadata was the checkout's at the session's start; its "
            f"modified files are exactly those {sent[:10]} changed, so the code was {sent[:10]}",
        }
        count += 1
    return count


def set_device(obj: Any, sent: str, device: str) -> int:
    """Name ``device`` in every re-attributed block (one with a ``device_checkout``): a driver
    process that never touched CUDA recorded itself as "cpu" although its workers ran on the
    device.  Returns how many blocks changed."""
    count = 0
    for block in list(_blocks_of(obj, sent)):
        if "device_checkout" in block and block.get("device") != device:
            block["device_checkout"]["recorded_device"] = block.get("device")
            block["device"] = device
            count += 1
    return count


def _blocks_of(obj: Any, commit: str) -> Iterator[dict]:
    for block in blocks(obj):
        if block.get("git_commit") == commit and isinstance(block, dict):
            yield block


def relabel(folder: Path, workdirs: Sequence[str], label: str = "OUT") -> int:
    """Replace the device's absolute work folders (``/tmp/slice``) by ``label`` in every text file
    under ``folder``: a saved result names no machine's paths.  Returns the files changed."""
    changed = 0
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix not in (".json", ".jsonl", ".md", ".log", ".txt"):
            continue
        text = path.read_text()
        new = text
        for workdir in sorted(workdirs, key=len, reverse=True):
            new = new.replace(workdir.rstrip("/"), label)
        if new != text:
            path.write_text(new)
            changed += 1
    return changed


def import_folder(
    src: Path,
    dest: Path,
    snapshot: str,
    sent: str,
    command: str = "",
    device: str = "",
    workdirs: Sequence[str] = (),
) -> int:
    """Copy ``src`` to ``dest`` and re-attribute every JSON file's provenance; returns the count.
    A folder of runs with no JSON beside them (a sweep stopped before it wrote its config) gets a
    ``device_run.json`` naming ``sent``, ``command`` and ``device``."""
    if dest.exists():
        raise FileExistsError(f"{dest} exists; accepted: a new folder under experiments/results")
    shutil.copytree(src, dest)
    relabel(dest, workdirs)
    for runs in sorted(dest.rglob("runs.jsonl")):
        if not list(runs.parent.glob("*.json")):
            record = {
                "git_commit": sent,
                "git_dirty": False,
                "git_modified": [],
                "command": command or None,
                "device": device or None,
                "wall_s": None,
                "device_checkout": {"commit": snapshot, "dirty": True},
            }
            lines = len(runs.read_text().splitlines())
            save_json(runs.parent / "device_run.json", {"runs": lines, "provenance": record})
    count = 0
    for path in sorted(dest.rglob("*.json")):
        data = json.loads(path.read_text())
        changed = reattribute(data, snapshot, sent)
        if device:
            changed += set_device(data, sent, device)
        if changed:
            path.write_text(json.dumps(data, indent=1) + "\n")
            count += changed
    return count


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("code_state", type=Path)
    p.add_argument("sent_commit")
    p.add_argument("pairs", nargs="+", help="SRC DEST pairs (DEST relative to experiments/results)")
    p.add_argument("--command", default="", help="what ran on the device (for device_run.json)")
    p.add_argument("--device", default="", help="the device, e.g. 'cuda (NVIDIA H200)'")
    p.add_argument(
        "--workdir",
        action="append",
        default=[],
        help="an absolute folder the device wrote under (written OUT in the results)",
    )
    args = p.parse_args(argv)
    if len(args.pairs) % 2:
        p.error(f"{len(args.pairs)} folder arguments; accepted: SRC DEST pairs")
    snapshot, modified = read_code_state(args.code_state.read_text())
    sent = _git("rev-parse", args.sent_commit).strip()
    verify_sent(snapshot, sent, modified)
    for src, dest in zip(args.pairs[::2], args.pairs[1::2]):
        n = import_folder(
            Path(src), results_root() / dest, snapshot, sent, args.command, args.device,
            args.workdir,
        )  # fmt: skip
        print(f"{src} -> experiments/results/{dest}: {n} provenance block(s) re-attributed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
