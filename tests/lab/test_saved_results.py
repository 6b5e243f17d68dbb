"""Every saved result under experiments/results/ is strict JSON, carries provenance, and names
no absolute path of the machine it ran on."""

import re
from pathlib import Path

import pytest

from abcparam.records import loads_strict

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "experiments" / "results"
PROVENANCE = {"command", "abcparam", "git_commit", "torch", "device", "date", "wall_s"}
# an absolute POSIX path with at least two components, or a Windows drive path
ABSOLUTE = re.compile(r"(?<![\w.~/-])(/(home|work|tmp|Users|root|mnt|opt|var|private)/|[A-Z]:\\)")
JSON_FILES = sorted(p for p in RESULTS.rglob("*.json") if "_latest" not in p.parts)
TEXT_FILES = sorted(
    p
    for ext in ("*.json", "*.jsonl", "*.md", "*.txt", "*.csv")
    for p in RESULTS.rglob(ext)
    if "_latest" not in p.parts
)


def _name(path: Path) -> str:
    return str(path.relative_to(RESULTS))


def test_there_are_saved_results():
    assert len(JSON_FILES) >= 20


@pytest.mark.parametrize("path", JSON_FILES, ids=_name)
def test_every_saved_json_is_strict_with_provenance(path):
    data = loads_strict(path.read_text())  # raises on NaN / Infinity
    assert isinstance(data, dict), "a saved result is a JSON object"
    missing = PROVENANCE - set(data.get("provenance", {}))
    assert not missing, f"provenance block lacks {sorted(missing)}"


@pytest.mark.parametrize("path", sorted(RESULTS.rglob("*.jsonl")), ids=_name)
def test_every_json_lines_file_is_strict(path):
    for line in path.read_text().splitlines():
        loads_strict(line)


@pytest.mark.parametrize("path", TEXT_FILES, ids=_name)
def test_no_absolute_machine_path(path):
    found = ABSOLUTE.search(path.read_text())
    assert found is None, f"absolute path at {found.start()}: {found.group(0)!r}..."


def test_machine_txt_is_gone():
    """Provenance lives in one place: the provenance block of the result's JSON."""
    assert not list(RESULTS.rglob("machine.txt"))
