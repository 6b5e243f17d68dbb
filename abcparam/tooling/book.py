"""``abcparam book build``: rebuild the Jupyter Book, executing every notebook, offline.

Steps (each one avoids a failure seen when building offline): copy ``derivations/`` into ``book/derivations``
(the book builds only files under its root); copy the MathJax shipped in the
``sphinx-mathjax-offline`` wheel into ``book/_static/mathjax`` (no CDN); drop ``MPLBACKEND`` (it
silently removes inline figures); run Jupyter Book 1 with ``-W`` so a failing cell fails the build.
"""

from __future__ import annotations

import os
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


def build(root: Path | None = None) -> int:
    """Build book/_build/html; returns the process exit code (non-zero if any cell failed)."""
    root = root or repo_root()
    prepare(root)
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    start = time.perf_counter()
    jb = shutil.which("jupyter-book") or str(Path(sys.executable).with_name("jupyter-book"))
    # --all: pages read saved experiment results that Sphinx does not track, so every build
    # re-executes every page rather than trusting the previous build's output
    cmd = [jb, "build", str(root / "book"), "--all", "-W", "--keep-going"]
    code = subprocess.call(cmd, env=env, cwd=root)
    index = root / "book" / "_build" / "html" / "index.html"
    print(
        f"book build {'succeeded' if code == 0 else 'FAILED'} in "
        f"{time.perf_counter() - start:.0f} s; index: {index}"
    )
    return code
