"""The examples in the public docstrings run (doctest), so the API reference cannot drift."""

import doctest
import importlib

import pytest

MODULES = (
    "abcparam.engine.rules",
    "abcparam.engine.rules_types",
    "abcparam.engine.rules_table",
    "abcparam.engine.derive",
    "abcparam.engine.symmetry",
    "abcparam.engine.constraints",
    "abcparam.engine.lora",
    "abcparam.published",
    "abcparam.citation",
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
    assert result.attempted > 0, f"{name} has no examples"
