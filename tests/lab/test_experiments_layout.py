"""Experiment logic lives in experiments.lab (importable, main(argv=None)); the scripts in
experiments/ are thin, and experiments/README.md indexes every one."""

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import experiments.lab

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(
    m.name for m in pkgutil.iter_modules(experiments.lab.__path__) if not m.name.startswith("_")
)
SCRIPTS = sorted(p.stem for p in (ROOT / "experiments").glob("*.py"))


def _target(script: str) -> str:
    text = (ROOT / "experiments" / f"{script}.py").read_text()
    return text.split("from experiments.lab.")[1].split(" import")[0]


def test_every_script_is_a_thin_wrapper_over_the_package():
    for name in SCRIPTS:
        text = (ROOT / "experiments" / f"{name}.py").read_text()
        assert "from experiments.lab." in text and " import main" in text, name
        assert len(text.splitlines()) < 20, f"{name}: logic belongs in experiments.lab"


@pytest.mark.parametrize("name", sorted({_target(s) for s in SCRIPTS}))
def test_every_experiment_has_main_taking_argv(name):
    module = importlib.import_module(f"experiments.lab.{name}")
    assert "argv" in inspect.signature(module.main).parameters


def test_the_readme_indexes_every_script():
    readme = (ROOT / "experiments" / "README.md").read_text()
    missing = [name for name in SCRIPTS if f"{name}.py" not in readme]
    assert not missing, f"experiments/README.md lacks {missing}"


def test_every_script_names_an_existing_module():
    for name in SCRIPTS:
        assert _target(name) in MODULES, name
