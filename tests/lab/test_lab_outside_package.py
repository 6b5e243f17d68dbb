"""The lab (experiments/lab/) is not part of the installed package: abcparam never imports it or
points into the repository's folders, and the CLI reaches it only inside a checkout."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from abcparam.cli.checkout import checkout_root

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_the_package_never_imports_the_lab():
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "abcparam").rglob("*.py")
        if any(n == "experiments" or n.startswith("experiments.") for n in _imports(p))
    ]
    assert not offenders, f"abcparam imports the lab: {offenders}"


def test_the_package_never_names_the_results_folder():
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "abcparam").rglob("*.py")
        if '"experiments" / "results"' in p.read_text()
    ]
    assert not offenders, f"abcparam points into experiments/results: {offenders}"


def test_the_wheel_ships_only_abcparam():
    config = (ROOT / "pyproject.toml").read_text()
    assert '[tool.setuptools.packages.find]\ninclude = ["abcparam*"]\n' in config
    assert not (ROOT / "abcparam" / "experiments").exists()


def test_checkout_root_is_found_from_a_subfolder_and_not_outside(tmp_path):
    assert checkout_root(ROOT / "book") == ROOT
    assert checkout_root(tmp_path) is None


def test_main_outside_a_checkout_says_where_to_run(tmp_path):
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "abcparam.cli", "main", "--skip-coordcheck", "--skip-book"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "inside a clone of the abcparam repository" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_thin_script_runs_from_any_folder(tmp_path):
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "claims.py"), "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "claims" in done.stdout


def test_every_relative_import_in_the_package_resolves_inside_it():
    """A relative import (``from ..experiments import ...``) must name a module of the package
    itself; an editable install can otherwise hide a lab import that a fresh clone lacks."""
    missing = []
    for p in (ROOT / "abcparam").rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level and node.module:
                base = p.parent
                for _ in range(node.level - 1):
                    base = base.parent
                target = base.joinpath(*node.module.split("."))
                if not (target.with_suffix(".py").exists() or (target / "__init__.py").exists()):
                    missing.append(f"{p.relative_to(ROOT)}: {'.' * node.level}{node.module}")
    assert not missing, f"relative imports outside the package: {missing}"
