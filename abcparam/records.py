"""Honest records: strict JSON with one provenance block, paths relative to the repository.

Every saved result goes through :func:`save_json`: non-finite floats become ``null`` (JSON has
no NaN/Infinity; most readers reject them) with a ``"nulls"`` entry saying where and why (what the
value was), absolute paths inside the repository become relative, and a ``"provenance"`` block
records the command, package version, git commit, torch version, device, date and wall time.
Torch-free: torch's version is read from the installed distribution, and the device only if the
process has already imported torch.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import fnmatch
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Mapping
from fractions import Fraction
from importlib import metadata
from pathlib import Path
from typing import Any

from . import __version__
from .atomic import write_text

__all__ = [
    "NULLS_KEY",
    "code_state",
    "describe",
    "dumps_strict",
    "device_name",
    "load_json",
    "loads_strict",
    "merged_device",
    "null_reasons",
    "provenance",
    "relative",
    "repo_root",
    "save_json",
    "strict",
]

NULLS_KEY = "nulls"


def repo_root() -> Path:
    """The repository this package runs from (its git checkout), else the working directory."""
    here = Path(__file__).resolve().parent.parent
    if (here / ".git").exists() or (here / "pyproject.toml").exists():
        return here
    return Path.cwd().resolve()


def relative(path: str | os.PathLike[str], root: Path | None = None) -> str:
    """``path`` relative to the repository root when inside it; otherwise its name only.

    An absolute path outside the repository names a machine, not a result; only its last
    component is kept.
    """
    root = (root or repo_root()).resolve()
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    try:
        return p.resolve().relative_to(root).as_posix()
    except ValueError:
        return p.name


def _relative_text(text: str, root: Path) -> str:
    """A command line with paths inside the repository made relative to it (the run reproduces
    from the repository root on any machine); a path outside it (``--out /scratch/cc1``) is kept
    as given, since shortening it would record a different run."""
    for prefix in {str(root), str(root.resolve())}:
        text = text.replace(prefix + os.sep, "").replace(prefix, ".")
    return text


def _nonfinite_name(x: float) -> str:
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def strict(
    obj: Any,
    found: dict[str, str] | None = None,
    *,
    root: Path | None = None,
    _at: str = "",
) -> Any:
    """A copy of ``obj`` that ``json.dumps(..., allow_nan=False)`` accepts.

    Non-finite floats become ``None``; when ``found`` is given, each is recorded there as
    ``{"/json/pointer": "nan" | "inf" | "-inf"}`` so the caller can say why the value is null.
    Numpy scalars/arrays, dataclasses, tuples, sets, Fractions and sympy numbers are converted;
    :class:`~pathlib.Path` objects and absolute strings under the repository become relative.
    """
    root = root or repo_root()
    if obj is None or isinstance(obj, bool | int | str):
        if isinstance(obj, str) and os.path.isabs(obj) and obj.startswith(str(root)):
            return relative(obj, root)
        return obj
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        if found is not None:
            found[_at or "/"] = _nonfinite_name(obj)
        return None
    if isinstance(obj, os.PathLike):
        return relative(obj, root)
    if isinstance(obj, Mapping):
        return {
            _key(k): strict(v, found, root=root, _at=f"{_at}/{_pointer(_key(k))}")
            for k, v in obj.items()
        }
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        as_dict = obj.to_dict() if hasattr(obj, "to_dict") else dataclasses.asdict(obj)
        return strict(as_dict, found, root=root, _at=_at)
    if isinstance(obj, list | tuple):
        return [strict(v, found, root=root, _at=f"{_at}/{i}") for i, v in enumerate(obj)]
    if isinstance(obj, set | frozenset):
        return [strict(v, found, root=root, _at=f"{_at}/{i}") for i, v in enumerate(sorted(obj))]
    if isinstance(obj, Fraction):
        return str(obj)
    # numpy without importing it: scalars have .item(), arrays .tolist()
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):
        return strict(obj.tolist(), found, root=root, _at=_at)
    if hasattr(obj, "item") and hasattr(obj, "dtype"):
        return strict(obj.item(), found, root=root, _at=_at)
    if type(obj).__module__.startswith("sympy"):
        return str(obj)
    raise TypeError(
        f"cannot write {type(obj).__name__} at {_at or '/'} as JSON; accepted: None, bool, int, "
        "float, str, Path, dict, list, tuple, set, dataclass, numpy scalar/array, sympy number"
    )


def _key(k: Any) -> str:
    return k if isinstance(k, str) else str(k)


def _pointer(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _package_version() -> str:
    return __version__


def _torch_version() -> str | None:
    if "torch" in sys.modules:
        return str(sys.modules["torch"].__version__)
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def _device() -> str:
    """'cpu' unless this process has imported torch and CUDA is available (then the GPU's name)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return "cpu"
    try:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            return f"cuda ({torch.cuda.get_device_name()})"
        return f"cpu ({torch.get_num_threads()} torch threads)"
    except Exception:  # a broken CUDA setup must not lose a result
        return "cpu"


def _default_command(root: Path) -> str:
    argv = list(sys.argv)
    if not argv or not argv[0]:
        return "python"
    head = Path(argv[0]).name
    if head == "abcparam":
        words = ["abcparam", *argv[1:]]
    elif head == "__main__.py":
        words = ["python -m", Path(argv[0]).parent.name, *argv[1:]]
    else:
        words = ["python", *argv]
    return _relative_text(" ".join(words), root)


#: what a result's own outputs may change without changing the code that produced it: a run
#: that rewrites committed results (``abcparam main --refresh-committed``) stays "clean"
_NOT_CODE = (":(exclude)experiments/results",)


def _read_code_state(root: Path) -> tuple[str | None, bool | None, tuple[str, ...]]:
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return None, None, ()
    status = _git(root, "status", "--porcelain", "--untracked-files=no", "--", ".", *_NOT_CODE)
    if status is None:
        return commit, None, ()
    names = _git(root, "diff", "--name-only", "HEAD", "--", ".", *_NOT_CODE) if status else ""
    return commit, bool(status), tuple(sorted((names or "").split()))


_CODE_STATE: dict[str, tuple[str | None, bool | None, tuple[str, ...]]] = {}


def code_state(root: Path | None = None) -> tuple[str | None, bool | None, tuple[str, ...]]:
    """(HEAD commit, tree modified?, modified tracked files) of the checkout as this process first
    saw it: read when this module is imported, i.e. when the code that runs was loaded, so a
    commit made while a long run works is not recorded as the one that produced it."""
    key = str((root or repo_root()).resolve())
    if key not in _CODE_STATE:
        _CODE_STATE[key] = _read_code_state(Path(key))
    return _CODE_STATE[key]


def merged_device(parts: Any) -> str | None:
    """The device(s) recorded by the provenance blocks inside ``parts`` (results merged into one
    summary), so a merge run on the CPU records where the work ran; None if none is recorded."""
    found: list[str] = []

    def walk(obj: Any) -> None:
        if isinstance(obj, Mapping):
            if "git_commit" in obj and obj.get("device") and obj["device"] not in found:
                found.append(str(obj["device"]))
            for value in obj.values():
                walk(value)
        elif isinstance(obj, list):
            for value in obj:
                walk(value)

    walk(parts)
    return " + ".join(found) if found else None


def device_name(requested: str) -> str:
    """A device the caller ran on (``"cuda"``, ``"cpu"``), named as :func:`provenance` names it:
    for the sweep drivers, whose workers trained in other processes."""
    torch = sys.modules.get("torch")
    if requested.startswith("cuda") and torch is not None:
        try:
            if torch.cuda.is_available():
                return f"cuda ({torch.cuda.get_device_name()})"
        except Exception:  # a broken CUDA setup must not lose a result
            pass
    return requested


def provenance(
    command: str | None = None, started: float | None = None, *, device: str | None = None
) -> dict[str, Any]:
    """Where a result came from: command, abcparam version, git commit, torch, device, date, wall time.

    ``command`` defaults to this process's command line; ``started`` is a ``time.time()`` taken
    when the work began (wall time is null without it). ``git_commit`` is the checkout's HEAD
    (null outside a checkout); ``git_dirty`` says whether tracked files differed from it, and
    ``git_modified`` names them, so a result from uncommitted code says which code that was
    (saved results under experiments/results are not code and do not count).
    ``device`` replaces this process's device (a merge of results computed elsewhere).
    """
    root = repo_root()
    commit, dirty, modified = code_state(root)
    block: dict[str, Any] = {
        "command": _relative_text(command, root) if command else _default_command(root),
        "abcparam": _package_version(),
        "git_commit": commit,
        "git_dirty": dirty,
        "torch": _torch_version(),
        "device": device or _device(),
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "wall_s": None if started is None else round(time.time() - started, 3),
    }
    if modified:
        block["git_modified"] = list(modified)
    return block


def describe(block: Mapping[str, Any]) -> str:
    """One human line from a provenance block (for the book and summaries); a result from a
    modified tree or from a commit outside this history says so."""
    parts = [f"`{block.get('command')}`"]
    commit = block.get("git_commit")
    if commit:
        doubts = ["modified tree"] if block.get("git_dirty") else []
        if _git(repo_root(), "merge-base", "--is-ancestor", str(commit), "HEAD") is None:
            doubts.append("not in this history")
        parts.append(f"commit {commit[:10]}" + (f" ({'; '.join(doubts)})" if doubts else ""))
    elif "git_commit" in block:
        parts.append("no commit recorded")
    if block.get("torch"):
        parts.append(f"torch {block['torch']}")
    for key in ("device", "python", "platform"):
        if block.get(key):
            parts.append(f"{key} {block[key]}" if key == "python" else str(block[key]))
    if block.get("date"):
        parts.append(str(block["date"])[:10])
    # a block written as the work began (a grid's config.json) holds ~0 s: not a wall time
    if block.get("wall_s") is not None and block["wall_s"] >= 0.5:
        parts.append(f"wall time {block['wall_s']:.0f} s")
    return "; ".join(parts)


def dumps_strict(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`strict` (obj), refusing NaN/Infinity."""
    kwargs.setdefault("indent", 1)
    kwargs.setdefault("ensure_ascii", False)
    return json.dumps(strict(obj), allow_nan=False, **kwargs)


def _generalise(pointer: str) -> str:
    """A pointer with list indices replaced by ``*`` (one entry per kind of null, not per null)."""
    return "/".join("*" if part.isdigit() else part for part in pointer.split("/"))


def null_reasons(found: Mapping[str, str], why: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{pattern: "nan in 27 places: <why>"}`` from :func:`strict`'s ``found``.

    ``why`` maps glob patterns over pointers (``"*/alignment_measured/*"``) to the reason a value
    is missing; nulls no pattern explains are marked as not representable in JSON.
    """
    groups: dict[str, list[str]] = {}
    for where, what in found.items():
        groups.setdefault(_generalise(where), []).append(what)
    reasons = {}
    for pattern, whats in groups.items():
        reason = next(
            (text for glob, text in (why or {}).items() if fnmatch.fnmatchcase(pattern, glob)),
            "not representable in JSON; written as null",
        )
        kinds = "/".join(sorted(set(whats)))
        where = "1 place" if len(whats) == 1 else f"{len(whats)} places"
        reasons[pattern] = f"{kinds} in {where}: {reason}"
    return reasons


def save_json(
    path: str | os.PathLike[str],
    payload: Mapping[str, Any],
    *,
    command: str | None = None,
    started: float | None = None,
    why: Mapping[str, str] | None = None,
    indent: int | None = 1,
    device: str | None = None,
) -> Path:
    """Write ``payload`` as strict JSON with a ``"provenance"`` block; returns the path.

    Non-finite floats are written as ``null`` and listed under ``"nulls"`` (pointer pattern ->
    what and why; ``why`` maps pointer globs to reasons, see :func:`null_reasons`), merged with
    any reasons the payload already gives there. A ``"provenance"`` mapping already in
    ``payload`` overrides the computed fields it names (to keep the record of a converted older
    result). ``started`` is a ``time.time()`` taken when the work began; ``indent`` as in
    :func:`json.dumps` (0 for large files); ``device`` the device that ran the work when it is
    not this process's (a merge step: :func:`merged_device`).
    """
    if not isinstance(payload, Mapping):
        raise TypeError(f"save_json needs a mapping payload, got {type(payload).__name__}")
    root = repo_root()
    found: dict[str, str] = {}
    body = strict({k: v for k, v in payload.items() if k != "provenance"}, found, root=root)
    block = provenance(command, started, device=device)
    given = payload.get("provenance")
    if isinstance(given, Mapping):
        block.update(strict(dict(given), root=root))
        if given.get("command"):
            block["command"] = _relative_text(str(given["command"]), root)
    if found:
        reasons = dict(body.get(NULLS_KEY) or {})
        for pattern, reason in null_reasons(found, why).items():
            reasons.setdefault(pattern, reason)
        body[NULLS_KEY] = reasons
    body["provenance"] = block

    # atomic: a reader (or a disk-full error) never meets half a file
    return write_text(
        path, json.dumps(body, indent=indent, allow_nan=False, ensure_ascii=False) + "\n"
    )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name!r} (strict JSON has no NaN/Infinity)")


def loads_strict(text: str) -> Any:
    """Parse JSON refusing NaN/Infinity (as strict readers do)."""
    return json.loads(text, parse_constant=_refuse_constant)


def load_json(path: str | os.PathLike[str]) -> Any:
    """Read a saved result with :func:`loads_strict`."""
    return loads_strict(Path(path).read_text())


code_state()  # pinned now: the commit whose code this process imported
