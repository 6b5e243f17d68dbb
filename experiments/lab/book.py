"""``abcparam book build``: rebuild the Jupyter Book, executing every notebook, offline.

Steps (each one avoids a failure seen when building offline): copy ``derivations/`` into ``book/derivations``
(the book builds only files under its root); copy the MathJax shipped in the
``sphinx-mathjax-offline`` wheel into ``book/_static/mathjax`` (no CDN); drop ``MPLBACKEND`` (it
silently removes inline figures); run Jupyter Book 1 with ``-W`` so a failing cell fails the build.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path


def repo_root() -> Path:
    """The checkout that holds book/ and derivations/ (the current directory or a parent)."""
    for candidate in [Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[2]]:
        if (candidate / "book" / "_toc.yml").exists():
            return candidate
    raise FileNotFoundError("no book/_toc.yml here or above; run from the abcparam checkout")


def _mathjax_source() -> Path:
    dist = metadata.distribution("sphinx-mathjax-offline")
    return Path(str(dist.locate_file("sphinx-mathjax-offline/static/mathjax")))


def prepare(root: Path) -> None:
    book = root / "book"
    target = book / "derivations"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(root / "derivations", target)
    mathjax = book / "_static" / "mathjax"
    if not (mathjax / "tex-chtml.js").exists():
        shutil.copytree(_mathjax_source(), mathjax, dirs_exist_ok=True)


#: a progress line of Sphinx ("reading sources... [ 42%] page", then "writing output... [ 42%]"):
#: the bar follows it
_PROGRESS = re.compile(r"\[\s*(\d+)%\]")
#: lines of the log shown in the terminal when the build fails
TAIL = 40


def default_log(root: Path) -> Path:
    """Where the build's own output goes: book/_build/logs/build.log (ignored by git)."""
    return root / "book" / "_build" / "logs" / "build.log"


def build(root: Path | None = None, log: Path | None = None) -> int:
    """Build book/_build/html; returns the process exit code (non-zero if any cell failed).

    Jupyter Book's output (Sphinx configuration dumps, kernel warnings, one line per page) goes
    to ``log`` (default :func:`default_log`); the terminal shows a progress bar and one line
    naming the result and the log, plus the log's last lines when the build fails."""
    from tqdm.std import tqdm

    root = root or repo_root()
    log = log or default_log(root)
    prepare(root)
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    # the pages import the lab (experiments.lab), which is not installed with abcparam
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    start = time.perf_counter()
    jb = shutil.which("jupyter-book") or str(Path(sys.executable).with_name("jupyter-book"))
    # --all: pages read saved experiment results that Sphinx does not track, so every build
    # re-executes every page rather than trusting the previous build's output
    cmd = [jb, "build", str(root / "book"), "--all", "-W", "--keep-going"]
    log.parent.mkdir(parents=True, exist_ok=True)
    with (
        log.open("w") as sink,
        subprocess.Popen(
            cmd, env=env, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as proc,
        tqdm(total=200, desc="book build (read, then write)", leave=False) as bar,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            sink.write(line)
            found = _PROGRESS.search(line)
            if found:  # reading (pages executed) then writing: 0-100 %, then 100-200 %
                done = int(found.group(1)) + (100 if "writing output" in line else 0)
                bar.update(max(0, done - bar.n))
        code = proc.wait()
    index = root / "book" / "_build" / "html" / "index.html"
    if code != 0:
        tail = log.read_text().splitlines()[-TAIL:]
        print("\n".join(["--- last lines of the book build log ---", *tail]), file=sys.stderr)
    print(
        f"book build {'succeeded' if code == 0 else 'FAILED'} in "
        f"{time.perf_counter() - start:.0f} s; index: {index}; full output: {log}"
    )
    return code
