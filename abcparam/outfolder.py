"""An output folder owned by one run at a time, holding one configuration's results.

:func:`claim` takes an exclusive lock (``.abcparam.lock``, an ``flock`` the kernel releases when
the process dies, so a killed run never leaves a stale lock) and refuses a folder that holds
another configuration's results (recognised by its configuration hash) unless ``overwrite``
removes them.  The same configuration is accepted: that is how a rerun resumes.  The lock file
is removed when the run ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX (Windows): no lock, the rest still holds
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK", "FolderBusy", "claim", "config_hash"]

LOCK = ".abcparam.lock"


class FolderBusy(Exception):
    """Another process is writing into this output folder (its own exit status on the CLI)."""


def config_hash(config: Mapping[str, Any]) -> str:
    """A short hash of a configuration (JSON with sorted keys): a result's identity in a folder."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _saved_hash(path: Path) -> str | None:
    """The ``config_hash`` a saved result records (top level in partial.json, in ``config`` in
    results.json), '' when it records none or is unreadable."""
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return ""
    if not isinstance(saved, dict):
        return ""
    config = saved.get("config")
    nested = config.get("config_hash") if isinstance(config, dict) else None
    return str(saved.get("config_hash") or nested or "")


@contextlib.contextmanager
def claim(
    folder: str | os.PathLike[str],
    key: str | None = None,
    *,
    results: Iterable[str] = ("results.json", "partial.json"),
    produced: Iterable[str] = (),
    overwrite: bool = False,
    name: str = "out",
) -> Iterator[Path]:
    """Hold ``folder`` for this process.  ``key`` is this run's :func:`config_hash`; the files in
    ``results`` are the saved results that record theirs.  One with a different hash is refused
    (ValueError, before any work) unless ``overwrite``, which removes ``results`` and
    ``produced`` (plots, summaries) first, so configurations never mix in one folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    handle = _lock(folder / LOCK, name, folder)
    try:
        if key is not None:
            results = list(results)
            other = [
                f
                for f in results
                if (folder / f).exists() and _saved_hash(folder / f) not in (key,)
            ]
            if other and not overwrite:
                raise ValueError(
                    f"{name} = {str(folder)!r} holds {', '.join(other)} from another "
                    f"configuration; pass --overwrite (overwrite=True) to replace it, or choose "
                    f"another folder"
                )
            if other:
                for f in [*results, *produced]:
                    (folder / f).unlink(missing_ok=True)
        yield folder
    finally:  # the lock file goes with the lock: a finished folder holds results only
        with contextlib.suppress(OSError):
            (folder / LOCK).unlink()
        handle.close()


def _lock(path: Path, name: str, folder: Path):
    """Open ``path`` and hold an exclusive flock on it.  A holder removes the file when done, so
    after locking, the file must still be the one at ``path`` (else lock the new one)."""
    while True:
        handle = open(path, "a+")
        try:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise FolderBusy(
                f"{name} = {str(folder)!r} is in use by another abcparam process (pid {holder}); "
                f"wait for it to finish or choose another folder"
            ) from None
        try:
            same = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            return handle
        handle.close()  # its holder removed it as we locked: take the new one
