"""The claims ledger (experiments/claims.toml): every claim recomputed from the committed raw
files, and every number the README and the book quote either marked with its claim (and equal to
it) or absent."""

import json
from pathlib import Path

import pytest

from experiments.lab.ledger import Claim, check_text, load_ledger, measured_numbers, recompute

ROOT = Path(__file__).resolve().parents[2]
CLAIMS = load_ledger()
BY_ID = {c.id: c for c in CLAIMS}
PAGES = sorted(
    [ROOT / "README.md", *(ROOT / "book").glob("*.md"), *(ROOT / "derivations").glob("*.md")]
)


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: c.id)
def test_every_claim_recomputes_from_its_raw_files(claim):
    assert claim.command.strip() and claim.what.strip()
    assert recompute(claim) == claim.text


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_quoted_number_is_in_the_ledger(page):
    problems = check_text(page.read_text(), BY_ID)
    assert not problems, f"{_name(page)}:\n" + "\n".join(problems)


def test_every_claim_is_quoted_somewhere():
    text = "".join(p.read_text() for p in PAGES)
    unquoted = [c.id for c in CLAIMS if f"<!--claim:{c.id}-->" not in text]
    assert not unquoted, f"ledger entries quoted nowhere (remove them or quote them): {unquoted}"


def test_one_value_per_fact():
    seen: dict[tuple, str] = {}
    for c in CLAIMS:
        # args may hold lists (cell pairs, a base cell): compared as sorted JSON
        key = (c.raw, c.recompute, json.dumps(c.args, sort_keys=True), c.format)
        assert key not in seen, f"{c.id} and {seen[key]} are the same fact"
        seen[key] = c.id


def test_the_readme_leads_with_its_two_commands():
    lines = [ln for ln in (ROOT / "README.md").read_text().splitlines() if ln.strip()]
    first = next(i for i, ln in enumerate(lines) if ln.startswith("```"))
    assert lines[first + 1].startswith("make setup main")
    assert lines[first + 2].startswith("make test")


def test_the_checker_finds_stale_unmarked_and_unknown_numbers():
    claim = Claim("x", "619/619", "w", "cmd", ("a",), "fits_within", "{passed}/{total}")
    ids = {"x": claim}
    assert check_text("passes 619/619<!--claim:x--> fits", ids) == []
    assert "620/620" in check_text("passes 620/620<!--claim:x--> fits", ids)[0]
    assert "1619/619" in check_text("passes 1619/619<!--claim:x--> fits", ids)[0]
    assert "not in the ledger" in check_text("drift −0.23 ± 0.10 per doubling", ids)[0]
    assert any("names no claim" in p for p in check_text("0.5<!--claim:nope-->", ids))
    assert check_text("tolerance 0.15<!--given--> in `lr=1e-2` and $n^{-1/2}$", ids) == []
    assert check_text("| $0.2\\sqrt{A}$ | TP-V Def. 4.1 | <!--given:0.2-->", ids) == []
    assert "0.2" in check_text("| $0.2\\sqrt{A}$ |", ids)[0]  # math is no hiding place
    code = "```python\nx = 0.25\n```\n"
    assert check_text(code, ids) == []
    assert measured_numbers("took 37 s, 12 % of 1.19 s; exponent 1/2; 250/261") == [
        (1, "37 s"),
        (1, "12 %"),
        (1, "1.19 s"),
        (1, "250/261"),
    ]


def test_a_decay_optimum_shift_needs_sweep_couples():
    """The decay-optimum shift reads its runs files as (sweep a, sweep b) couples, so an odd
    count is refused, naming it."""
    from experiments.lab.claims import wd_optimum_shift

    with pytest.raises(ValueError, match="3 runs files"):
        wd_optimum_shift([Path("a"), Path("b"), Path("c")], pairs=[], quantity="tau_shift")


def test_a_rerun_gap_pairs_runs_and_horizons_and_reads_a_change(tmp_path):
    """Two grids that share a run: the gap is read over the horizons both hold, a changed loss
    shows in it, a rerun split one LR per file reads as one copy, and grids that share nothing, or
    either copy holding a run twice, are refused; a grid split over files
    is read as one copy when ``first`` says how many files it has."""
    import json

    from experiments.lab.claims import horizon_rerun_gap

    def grid(name: str, *runs: tuple[dict[str, float], int, float]) -> Path:
        rows = [
            {
                "width": 64,
                "batch": 8,
                "log2_lr": lr,
                "seed": seed,
                "results": {t: {"val_loss": v} for t, v in losses.items()},
            }
            for losses, seed, lr in runs
        ]
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        return path

    first = grid("first", ({"250": 2.0, "500": 1.5}, 0, -6.0))
    same = grid("same", ({"250": 2.0, "500": 1.5, "1000": 1.2}, 0, -6.0))
    changed = grid("changed", ({"250": 2.0, "500": 1.25, "1000": 1.2}, 0, -6.0))
    assert horizon_rerun_gap([first, same]) == {"max_gap": 0.0, "pairs": 2, "second_gap": 0.0}
    spiked = horizon_rerun_gap([first, changed])
    assert spiked["max_gap"] == pytest.approx(0.25)
    assert spiked["second_gap"] == 0.0  # one pair spiked, the other repeats: the second gap says so
    with pytest.raises(ValueError, match="share no run"):
        horizon_rerun_gap([first, grid("other", ({"250": 2.0}, 1, -6.0))])

    two_lrs = grid(
        "two_lrs", ({"250": 2.0, "500": 1.5}, 0, -6.0), ({"250": 1.9, "500": 1.4}, 0, -6.5)
    )
    lower = grid("lower", ({"250": 1.8, "500": 1.4, "1000": 1.3}, 0, -6.5))
    split = horizon_rerun_gap([two_lrs, changed, lower])
    assert split == {"max_gap": pytest.approx(0.25), "pairs": 4, "second_gap": pytest.approx(0.1)}
    with pytest.raises(ValueError, match="in one copy twice"):
        horizon_rerun_gap([first, same, changed])
    with pytest.raises(ValueError, match="first = 1 of 1 runs files"):
        horizon_rerun_gap([first])

    # the grid split too (an LR added after it ran): its first two files are one copy
    low_lr = grid("low_lr", ({"250": 1.9, "500": 1.4}, 0, -6.5))
    assert horizon_rerun_gap([first, low_lr, changed, lower], first=2) == split
    # read with the default first = 1, low_lr would join the rerun, which then holds 2^-6.5 twice
    with pytest.raises(ValueError, match="in one copy twice"):
        horizon_rerun_gap([first, low_lr, changed, lower])
    with pytest.raises(ValueError, match="in one copy twice"):
        horizon_rerun_gap([first, first, changed], first=2)
    with pytest.raises(ValueError, match="accepted: 1 to 2"):
        horizon_rerun_gap([first, low_lr, changed], first=3)


def test_the_train_val_gap_reads_each_seeds_two_optima(tmp_path):
    """Per seed the validation and training optima are found apart, the gap is read at the
    validation optimum, training optima on the window's lowest LR are counted, and a cell no run
    holds is refused."""
    import json

    from experiments.lab.claims import horizon_train_val_gap

    def run(seed: int, lr: float, val: float, train: float) -> dict:
        result = {"val_loss": val, "curve": [[3990, train + 0.5], [4000, train]]}
        return {
            "width": 128,
            "batch": 128,
            "log2_lr": lr,
            "seed": seed,
            "results": {"4000": result},
        }

    rows = [
        run(0, -7.0, 1.25, 0.80), run(0, -6.0, 1.20, 0.90), run(0, -5.0, 1.22, 1.00),
        run(1, -7.0, 1.30, 0.95), run(1, -6.0, 1.28, 0.85), run(1, -5.0, 1.26, 0.90),
    ]  # fmt: skip
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = horizon_train_val_gap([path], width=128, batch=128, horizon=4000)
    assert got["gap"] == pytest.approx(((1.20 - 0.90) + (1.26 - 0.90)) / 2)
    assert got["val_lr"] == pytest.approx((-6.0 + -5.0) / 2)
    assert got["train_lr"] == pytest.approx((-7.0 + -6.0) / 2)
    assert (got["gap_min"], got["gap_max"]) == (pytest.approx(0.30), pytest.approx(0.36))
    assert (got["train_lr_min"], got["train_lr_max"]) == (-7.0, -6.0)
    assert (got["train_low_edge"], got["seeds"]) == (1, 2)
    with pytest.raises(ValueError, match="no run at width 64"):
        horizon_train_val_gap([path], width=64, batch=128, horizon=4000)


def test_overlapping_grids_keep_each_runs_longest_stable_phase():
    """Grids run apart repeat a run: one copy per (width, batch, LR, seed) is kept, the one with
    the longest stable phase, whichever file comes first; distinct runs all survive."""
    from experiments.lab.claims import longest_copies

    def run(seed: int, length: int, lr: float = -6.0) -> dict:
        curve = [[10 * (i + 1), 3.0 - 0.01 * i] for i in range(length)]
        return {"width": 64, "batch": 8, "log2_lr": lr, "seed": seed, "stable_curve": curve}

    short, long = run(0, 180), run(0, 360)
    for order in ([short, long], [long, short]):
        kept = longest_copies(order)
        assert len(kept) == 1 and len(kept[0]["stable_curve"]) == 360
    distinct = longest_copies([run(0, 180), run(1, 180), run(0, 180, lr=-5.5)])
    assert len(distinct) == 3
