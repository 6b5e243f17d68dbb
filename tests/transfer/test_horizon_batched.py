"""The batched horizon trainer equals separate warmup-stable-decay runs: K LRs x S seeds stacked
into one model give :func:`abcparam.transfer.horizon.train_wsd`'s rows (validation loss at every
horizon, the stable and branch curves, divergence) to 1e-5 over a few dozen steps."""

from __future__ import annotations

import json
import math

import pytest
import torch

from abcparam.transfer.horizon import HorizonRun, finished, train_wsd
from abcparam.transfer.horizon_batched import (
    _Stack,
    check_batched,
    chunks,
    run_grid_batched,
    train_wsd_batched,
)


def _runs(lrs=(-8.0, -5.0), seeds=(0, 1), **kw) -> list[HorizonRun]:
    fixed = dict(horizons=(8, 16), warmup=2, base_width=16, curve_every=2)
    return [HorizonRun(16, 2, lr, s, **{**fixed, **kw}) for lr in lrs for s in seeds]


def _assert_same(row: dict, ref: dict) -> None:
    assert row["key"] == ref["key"] and row["trainer"] == "batched"
    assert row["initial_loss"] == pytest.approx(ref["initial_loss"], abs=1e-5)
    assert set(row["results"]) == set(ref["results"])
    for h, want in ref["results"].items():
        got = row["results"][h]
        assert got["diverged"] == want["diverged"]
        assert got["diverged_reason"] == want["diverged_reason"]
        if math.isfinite(want["val_loss"]):
            assert got["val_loss"] == pytest.approx(want["val_loss"], abs=1e-5)
        assert [s for s, _ in got["curve"]] == [s for s, _ in want["curve"]]
    steps = [s for s, _ in ref["stable_curve"]]
    assert [s for s, _ in row["stable_curve"]] == steps
    for (_, a), (_, b) in zip(row["stable_curve"], ref["stable_curve"], strict=True):
        assert a == pytest.approx(b, abs=1e-5)
    rest = {"results", "stable_curve", "initial_loss", "trainer"}
    assert {k: v for k, v in row.items() if k not in rest} == {
        k: v for k, v in ref.items() if k not in rest
    }


@pytest.mark.parametrize("convention", ["coupled", "independent"])
def test_batched_wsd_rows_equal_separate_runs(convention):
    configs = _runs(convention=convention)
    rows = train_wsd_batched(configs)
    for cfg, row in zip(configs, rows, strict=True):
        _assert_same(row, train_wsd(cfg))
    # the LRs and seeds really trained differently (not one model copied)
    assert len({round(r["results"]["16"]["val_loss"], 6) for r in rows}) == len(rows)


def test_batched_linear_decay_equals_separate_runs():
    """Linear decay to zero from the end of warmup: one horizon, decay fraction 1 - warmup/T."""
    configs = _runs(horizons=(12,), decay_fraction=1 - 2 / 12)
    for cfg, row in zip(configs, train_wsd_batched(configs), strict=True):
        _assert_same(row, train_wsd(cfg))


def test_a_run_that_blows_up_ends_alone():
    """A non-finite training loss ends that run at every later horizon; the others train on."""
    configs = _runs(lrs=(-6.0, 40.0), seeds=(0,))
    good, bad = train_wsd_batched(configs)
    assert all(r["diverged"] for r in bad["results"].values())
    assert bad["results"]["16"]["diverged_reason"] == "non-finite training loss"
    _assert_same(good, train_wsd(configs[0]))
    _assert_same(bad, train_wsd(configs[1]))


def test_restore_undoes_a_branch_and_its_deaths():
    """The stable run resumes from the snapshot: parameters, moments and peak LRs back, also of a
    model that died in the branch (its death zeroed them)."""
    stack = _Stack(_runs(seeds=(0,)))
    stack.steps(0, 3, None, [[], []])
    saved = stack.batched.snapshot()
    before = {n: p.detach().clone() for n, p in stack.model.params.items()}
    stack.steps(3, 5, 8, [[], []])
    stack.batched.kill(torch.tensor([True, False]))
    assert any(not torch.equal(p, before[n]) for n, p in stack.model.params.items())
    stack.batched.restore(saved)
    for n, p in stack.model.params.items():
        assert torch.equal(p.detach(), before[n]), n
    bundle = stack.batched.bundles[0]
    assert bool((bundle.lr64 != 0).all())  # the dead model's peak LR is back
    bundle.set_factor(0.5)
    assert torch.allclose(bundle.lr.double(), bundle.lr64 * 0.5)


def test_chunks_share_each_cohort_between_workers():
    configs = _runs(lrs=(-8.0, -7.0, -6.0), seeds=(0, 1, 2)) + [
        HorizonRun(32, 2, -7.0, 0, horizons=(8, 16), warmup=2, base_width=16)
    ]
    parts = chunks(configs, workers=2, max_models=None)
    assert [len(p) for p in parts] == [5, 4, 1]  # width 16's 9 runs in two, width 32 alone
    assert all(len({c.width for c in p}) == 1 for p in parts)
    assert [len(p) for p in chunks(configs, workers=1, max_models=4)] == [4, 4, 1, 1]


def test_unsupported_runs_are_refused_by_name():
    with pytest.raises(ValueError, match="record_updates"):
        check_batched(_runs(record_updates=True))
    with pytest.raises(ValueError, match="device 'cuda'"):
        check_batched(_runs(device="cuda"))
    with pytest.raises(ValueError, match="log2_lr, seed"):
        check_batched(_runs(seeds=(0,)) + _runs(seeds=(0,), warmup=3))
    with pytest.raises(ValueError, match="no run to batch"):
        check_batched([])


def test_batched_grid_resumes_the_unbatched_file(tmp_path):
    """One file for both trainers: rows already saved (by either) are not trained again."""
    configs = _runs(seeds=(0,))
    path = tmp_path / "runs.jsonl"
    run_grid_batched(configs[:1], path, progress=False)
    trained: list = []

    def spy(part, threads):
        trained.extend(part)
        return train_wsd_batched(part, threads)

    rows = run_grid_batched(configs, path, progress=False, train=spy)
    assert [c.key for c in trained] == [configs[1].key]
    assert [r["key"] for r in rows] == [c.key for c in configs]
    assert set(finished(path)) == {c.key for c in configs}
    assert all(json.loads(line)["trainer"] == "batched" for line in path.read_text().splitlines())


def test_quick_grid_batched_end_to_end(tmp_path):
    """``--batched`` gives the same grid file and summary as the separate runs."""
    from abcparam.records import load_json
    from experiments.lab.horizon_grid import main

    args = ["--quick", "--widths", "16", "--batches", "2", "--workers", "1"]
    assert main([*args, "--batched", "--out", str(tmp_path / "b")]) == 0
    assert main([*args, "--out", str(tmp_path / "s")]) == 0
    batched, separate = (finished(tmp_path / d / "runs.jsonl") for d in ("b", "s"))
    assert set(batched) == set(separate) and len(batched) == 3 * 2
    for key, ref in separate.items():
        _assert_same(batched[key], ref)
    a, b = (load_json(tmp_path / d / "summary.json") for d in ("b", "s"))
    assert a["horizons"] == b["horizons"] == [8, 16]


def test_bench_quick_times_both_paths(tmp_path):
    from abcparam.records import load_json
    from experiments.lab.bench_horizon_batched import main

    assert main(["--quick", "--workers", "1", "--out", str(tmp_path)]) == 0
    (row,) = load_json(tmp_path / "timings.json")["benchmarks"]
    assert row["separate_s"][0] > 0 and row["batched_s"][0] > 0
    assert row["finite_results"] == 2 * 2 and row["fidelity_max_abs_val_loss"] < 1e-5
    assert "| 16 | 2 |" in (tmp_path / "timings.md").read_text()
    assert main(["--quick", "--workers", "1", "--batch", "3", "--out", str(tmp_path)]) == 0
    assert load_json(tmp_path / "timings.json")["benchmarks"][0]["batch"] == 3
