"""Cross-library oracles skip locally but fail in CI when missing."""

import pytest
from optional import need


def test_missing_oracle_skips_locally(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        need("abcparam_no_such_oracle")


def test_missing_oracle_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="abcparam_no_such_oracle"):
        need("abcparam_no_such_oracle")


def test_present_oracle_is_imported_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "1")
    assert need("json").dumps(1) == "1"
