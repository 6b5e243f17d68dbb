"""Honest provenance: every committed result was produced by a commit in this history from a
clean tree, or is marked legacy-unverified in experiments/legacy.json and quoted nowhere
(no claim of the ledger rests on it)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from experiments.lab.audit import audit, blocks, is_legacy, load_legacy, problems
from experiments.lab.ledger import load_ledger, raw_paths

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "experiments" / "results"


def _in_a_git_checkout() -> bool:
    if shutil.which("git") is None:
        return False
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True)
    shallow = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--is-shallow-repository"],
        capture_output=True,
        text=True,
    )
    return out.returncode == 0 and shallow.stdout.strip() != "true"


needs_history = pytest.mark.skipif(
    not _in_a_git_checkout(), reason="needs a full git checkout (the commits' history)"
)


@needs_history
def test_every_unverified_result_is_marked_legacy():
    legacy = load_legacy()
    unmarked = {k: v for k, v in audit().items() if k not in legacy}
    assert not unmarked, (
        "results from a commit outside this history or a modified tree: rerun them from a clean "
        f"commit, or mark them (python -m experiments.lab.audit --mark) and quote them nowhere: {unmarked}"
    )


@needs_history
def test_every_legacy_entry_still_fails_the_audit():
    """A result rerun from a clean commit leaves the list (python -m experiments.lab.audit --mark)."""
    failing = audit()
    retired = [rel for rel in load_legacy() if rel not in failing]
    assert not retired, f"verified now, remove from legacy.json: {retired}"


def test_every_legacy_entry_names_a_saved_result_and_a_reason():
    legacy = load_legacy()
    assert legacy, "legacy.json lists the results whose provenance cannot be verified"
    for rel, reason in legacy.items():
        assert (RESULTS / rel).exists(), f"legacy.json names a missing result: {rel}"
        assert reason.strip(), rel


def test_no_claim_rests_on_a_legacy_result():
    legacy = load_legacy()
    for claim in load_ledger():
        for path in raw_paths(claim):
            rel = path.relative_to(RESULTS).as_posix()
            assert not is_legacy(rel, legacy), f"claim {claim.id} rests on legacy result {rel}"


@needs_history
def test_every_claim_rests_on_a_verified_result():
    """Stronger than the legacy list: each raw file (or, for a runs.jsonl, its folder's JSON) has
    a provenance block naming a commit in this history and a clean tree."""
    for claim in load_ledger():
        for path in raw_paths(claim):
            sources = [path] if path.suffix == ".json" else sorted(path.parent.glob("*.json"))
            assert sources, f"claim {claim.id}: no provenance beside {path.name}"
            for source in sources:
                found = [p for b in blocks(json.loads(source.read_text())) for p in problems(b)]
                assert not found, f"claim {claim.id}: {source.relative_to(RESULTS)}: {found}"


@needs_history
def test_the_audit_catches_a_modified_tree_and_a_foreign_commit():
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert problems({"git_commit": head, "git_dirty": False}) == []
    assert problems({"git_commit": head, "git_dirty": True}) == [f"modified tree at {head[:10]}"]
    foreign = problems({"git_commit": "0" * 40, "git_dirty": False})
    assert foreign == ["commit 0000000000 is not in this history"]
    assert "no git commit recorded" in problems({"git_commit": None, "git_dirty": None})


def test_a_runs_file_is_judged_by_its_folder():
    legacy = {"sweep/config.json": "modified tree"}
    assert is_legacy("sweep/runs.jsonl", legacy)
    assert is_legacy("sweep/summary.md", legacy)
    assert not is_legacy("sweep/other.json", legacy)
    assert not is_legacy("other/runs.jsonl", legacy)
    assert not is_legacy("sweep/sub/runs.jsonl", legacy)
