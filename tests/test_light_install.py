"""The engine installs and runs without the torch extra; torch commands say how to get it."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "matplotlib", "tqdm")
# make torch, matplotlib and tqdm unimportable, as in an install without the extra
WITHOUT_EXTRA = f"""
import importlib.abc, sys
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {HEAVY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Absent())
"""


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_import_and_rules_do_not_import_the_torch_extra():
    code = (
        "import sys, abcparam\n"
        "from abcparam.cli import main\n"
        "assert main(['rules', 'mup', '--optimizer', 'adam']) == 0\n"
        "import abcparam.records\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "assert not loaded, loaded\n"
    )
    done = _python(code)
    assert done.returncode == 0, done.stderr


def test_rules_run_without_the_torch_extra():
    done = _python(WITHOUT_EXTRA + "from abcparam.cli import main; sys.exit(main(['rules', 'sp']))")
    assert done.returncode == 0, done.stderr
    assert "hidden" in done.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["coord-check", "--scheme", "mup"],
        ["sweep", "--out", "unused"],
    ],
)
def test_torch_commands_name_the_extra_instead_of_a_traceback(argv):
    done = _python(WITHOUT_EXTRA + f"from abcparam.cli import main; sys.exit(main({argv!r}))")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert f"abcparam {argv[0]} needs the torch extra" in done.stderr
    assert "pip install 'abcparam[torch]'" in done.stderr


def test_the_torch_package_says_which_extra_is_missing():
    done = _python(WITHOUT_EXTRA + "import abcparam.torch")
    assert "abcparam.torch needs the torch extra (missing: torch)" in done.stderr


def test_pyproject_keeps_the_engine_light():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {d.split(">")[0].split("=")[0].split("<")[0].strip() for d in project["dependencies"]}
    assert names == {"sympy", "numpy", "scipy"}
    extra = {
        d.split(">")[0].split("=")[0].strip() for d in project["optional-dependencies"]["torch"]
    }
    assert set(HEAVY) <= extra
