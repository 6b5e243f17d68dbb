"""One writer for every result file: a whole file is written to a temporary file in the same
folder, flushed to disk (fsync) and renamed over the target (``os.replace``), so a reader sees
the old file or the new one, never half of one; a JSON-lines append starts on a fresh line (a
torn last line costs only itself) and is fsynced.  A failed write (disk full, no permission)
raises :class:`WriteError` naming the file; what was on disk before stays intact.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = [
    "WriteError",
    "append_line",
    "read_lines",
    "save_figure",
    "write_bytes",
    "write_text",
    "writing",
]


class WriteError(Exception):
    """A result could not be written (disk full, permission denied, ...) after work began: the
    command line reports it with its own exit status, distinct from bad input."""

    def __init__(self, path: str | os.PathLike[str], error: OSError) -> None:
        self.path = Path(path)
        self.error = error
        why = error.strerror or str(error)
        super().__init__(
            f"could not write {self.path} ({why}); files written before it are kept intact"
        )


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every file system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def writing(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix, so writers that infer the format from
    it work); once the block has written it, it is fsynced and renamed onto ``path``.  An error
    removes the temporary file and leaves ``path`` as it was."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
        os.close(fd)
    except OSError as err:
        raise WriteError(path, err) from err
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise WriteError(path, err) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Replace ``path`` with ``data`` atomically (see :func:`writing`)."""
    with writing(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Replace ``path`` with ``text`` (UTF-8) atomically."""
    return write_bytes(path, text.encode("utf-8"))


def save_figure(fig, path: str | os.PathLike[str], **kwargs) -> Path:
    """``fig.savefig`` through :func:`writing` (a plot is never left half drawn)."""
    with writing(path) as tmp:
        fig.savefig(tmp, **kwargs)
    return Path(path)


def append_line(path: str | os.PathLike[str], line: str) -> None:
    """Append one line to a JSON-lines file and fsync it.  When the file does not end with a
    newline (a torn last line from an interrupted write), a newline goes first, so the new line
    is whole and only the torn one is lost."""
    path = Path(path)
    data = line.rstrip("\n").encode("utf-8") + b"\n"
    try:
        with open(path, "ab+") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() > 0:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    data = b"\n" + data
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as err:
        raise WriteError(path, err) from err


def read_lines(path: str | os.PathLike[str], warn: Callable[[str], None] | None = None):
    """``(line_number, text)`` for each line of a JSON-lines file.  A line that is not UTF-8 is
    reported (file, line and byte) and skipped, so one bad byte costs one line, not the file."""
    path = Path(path)
    warn = warn or (lambda message: warnings.warn(message, stacklevel=3))
    for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as err:
            warn(
                f"{path}: line {number}: byte 0x{raw[err.start]:02x} at column {err.start + 1} "
                f"is not UTF-8; skipped"
            )
