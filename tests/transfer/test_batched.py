"""The batched sweep trainer equals separate runs: K LRs x S seeds stacked into one model give
the losses :func:`abcparam.transfer.sweep.train` gives run by run (to 1e-5 over a few steps)."""

from __future__ import annotations

import math
import os

import pytest
import torch

from abcparam.torch import AdamAtan2, Lion, Muon
from abcparam.transfer.batched import Slot, cohorts, train_batched, update
from abcparam.transfer.sweep import RunConfig, train


def _configs(model: str, optimizer: str, steps: int = 4, **kw) -> list[RunConfig]:
    return [
        RunConfig(model, "mup", optimizer, 64, lr, seed, steps=steps, base_width=32, batch=32, **kw)
        for lr in (-9.0, -6.0)
        for seed in (0, 1)
    ]


@pytest.mark.parametrize(
    ("model", "optimizer"),
    [
        ("mlp", "adam"),
        ("mlp", "lion"),
        ("mlp", "muon"),
        ("transformer", "adam"),
        ("transformer", "adamw"),
        ("transformer", "lion"),
    ],
)
def test_batched_losses_equal_separate_runs(model, optimizer):
    configs = _configs(model, optimizer)
    rows = train_batched(configs)
    for cfg, row in zip(configs, rows):
        ref = train(cfg)
        assert row["key"] == ref["key"]
        assert row["val_loss"] == pytest.approx(ref["val_loss"], abs=1e-5)
        assert row["initial_loss"] == pytest.approx(ref["initial_loss"], abs=1e-5)
        assert row["diverged"] == ref["diverged"]
        assert len(row["curve"]) == cfg.steps and all(math.isfinite(c) for c in row["curve"])
    # different LRs and seeds really trained differently (not one model copied)
    assert len({round(r["val_loss"], 6) for r in rows}) == len(rows)


def test_batched_depth_rules_equal_separate_runs():
    """Depth-muP on the GPT: branch multipliers and depth LR factors as the separate run has."""
    configs = [
        RunConfig(
            "transformer",
            "depth-mup",
            "adam",
            32,
            lr,
            0,
            steps=3,
            base_width=32,
            batch=32,
            depth=4,
            base_depth=2,
        )
        for lr in (-8.0, -6.0)
    ]
    for cfg, row in zip(configs, train_batched(configs)):
        assert row["val_loss"] == pytest.approx(train(cfg)["val_loss"], abs=1e-5)


@pytest.mark.parametrize(("model", "lr"), [("mlp", 12.0), ("transformer", 40.0)])
def test_a_diverging_run_does_not_touch_the_others(model, lr):
    """A run whose training loss turns non-finite ends there (the GPT's too: its weights are
    zeroed only after the backward that still needs them) and the others train on."""
    configs = [
        RunConfig(model, "mup", "adam", 32, log2_lr, 0, steps=6, base_width=32, batch=32)
        for log2_lr in (-8.0, lr)
    ]
    good, bad = train_batched(configs)
    assert bad["diverged"] and bad["diverged"] == train(configs[1])["diverged"]
    if model == "transformer":
        assert bad["diverged_reason"] == "non-finite training loss"
    assert good["val_loss"] == pytest.approx(train(configs[0])["val_loss"], abs=1e-5)


def _reference(cls, lrs, wds, **kw):
    torch.manual_seed(0)
    ps = [torch.randn(6, 5, requires_grad=True) for _ in lrs]
    opts = [cls([p], lr=lr, weight_decay=wd, **kw) for p, lr, wd in zip(ps, lrs, wds)]
    return ps, opts


@pytest.mark.parametrize(
    ("cls", "kind", "fixed", "kw"),
    [
        (torch.optim.Adam, "Adam", {"betas": (0.9, 0.999)}, {}),  # L2 (coupled) decay
        (torch.optim.AdamW, "AdamW", {"betas": (0.9, 0.999)}, {}),  # decoupled decay
        (AdamAtan2, "AdamAtan2", {"betas": (0.9, 0.999), "a": 4 / math.pi, "b": 1.0}, {}),
        (Lion, "Lion", {"betas": (0.9, 0.99)}, {}),
        (
            Muon,
            "Muon",
            {
                "momentum": 0.95,
                "nesterov": True,
                "ns_coefficients": (3.4445, -4.775, 2.0315),
                "ns_steps": 5,
                "adjust_lr_fn": "original",
            },
            {},
        ),
    ],
)
def test_batched_optimizer_step_equals_torch_with_decay(cls, kind, fixed, kw):
    """Per-model LR and weight decay (coupled for Adam, decoupled for AdamW / Lion / Muon): the
    stacked update equals each torch optimizer's, model by model."""
    lrs, wds = [1e-3, 3e-2, 1e-1], [0.0, 0.1, 0.5]
    ps, opts = _reference(cls, lrs, wds, **kw)
    stacked = torch.stack([p.detach().clone() for p in ps]).requires_grad_(True)
    eps = opts[0].param_groups[0].get("eps", 1e-8)
    slot = Slot(
        kind,
        fixed,
        torch.tensor(lrs, dtype=torch.float64),
        torch.tensor(wds),
        torch.full((3,), float(eps[0] if isinstance(eps, tuple) else eps)),
    )
    gen = torch.Generator().manual_seed(1)
    for t in range(1, 6):
        grads = torch.randn(3, 6, 5, generator=gen)
        for p, o, g in zip(ps, opts, grads):
            p.grad = g.clone()
            o.step()
        stacked.grad = grads.clone()
        update(stacked, slot, t)
    for i, p in enumerate(ps):
        torch.testing.assert_close(stacked[i].detach(), p.detach(), rtol=0, atol=1e-6)
    # the decay mattered: without it the largest-decay model would be elsewhere
    assert not torch.allclose(stacked[2], stacked[1])


def test_cohorts_split_by_everything_but_lr_and_seed():
    configs = _configs("mlp", "adam") + [
        RunConfig("mlp", "mup", "adam", 128, -7.0, 0, steps=4, base_width=32, batch=32)
    ]
    groups = cohorts(configs, max_models=3)
    assert [len(g) for g in groups] == [3, 1, 1]
    assert {c.width for c in groups[-1]} == {128}
    with pytest.raises(ValueError, match="max_models"):
        cohorts(configs, max_models=0)


def test_benchmark_script_quick(tmp_path):
    import json

    from experiments.lab.bench_batched_sweep import main

    args = ["--quick", "--repeats", "1", "--models", "mlp", "--threads", "1", "--lrs", "3"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "timings.json").read_text())
    (bench,) = saved["benchmarks"]
    assert len(bench["separate_s"]) == len(bench["batched_s"]) == 1
    assert bench["speedup_of_medians"] > 0 and "provenance" in saved
    # both paths' final losses, per LR: at 5 steps of a quick run they agree to 1e-5
    fid = bench["fidelity"]
    assert fid["runs"] == 3 and len(fid["separate_val_loss"]) == len(fid["batched_val_loss"]) == 3
    assert fid["within_1e-5"] == 3, fid


def test_benchmark_wait_policy_must_be_set_before_torch(monkeypatch, tmp_path):
    """Asked for a wait policy the running process does not have: a one-line error, not a
    benchmark that silently ran under another policy."""
    from experiments.lab.bench_batched_sweep import main

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    with pytest.raises(SystemExit) as err:
        main(["--quick", "--omp-wait-policy", "passive", "--out", str(tmp_path)])
    assert err.value.code == 2


def test_regret_sweep_quick(tmp_path):
    """The rerun driver end to end at toy size: adaptive rounds, raw runs with curves, summary."""
    import json

    from experiments.lab.regret_sweeps import run

    result = run("width-mlp", tmp_path, seeds=3, steps=2, sizes=(32, 64), arms=["mup"], rounds=1)
    rows = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert {r["width"] for r in rows} == {32, 64} and all(len(r["curve"]) == 2 for r in rows)
    assert len(rows) > 3 * 8  # the coarse grid (8 LRs x 3 seeds per width) plus refinements
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["provenance"]["git_commit"] and "transfer regret @ 64" in saved["table"]
    assert set(result["mup"]["regret"]) == {64}


def test_the_wait_policy_is_read_from_the_command_line(monkeypatch):
    from experiments.lab.bench_batched_sweep import wait_policy_from_argv

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    wait_policy_from_argv(["x.py", "--quick", "--omp-wait-policy", "passive"])
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    wait_policy_from_argv(["x.py", "--omp-wait-policy=active"])
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_runs_of_one_seed_share_one_initial_model():
    """distinct(): LRs of one seed start from the same weights (one initial loss each seed);
    another seed, or a changed weight, is a model of its own."""
    from abcparam.transfer.batched import build

    configs = _configs("transformer", "adam")  # (lr, seed): (-9, 0), (-9, 1), (-6, 0), (-6, 1)
    model = build(configs).model
    first, index = model.distinct()
    assert first == [0, 1] and index.tolist() == [0, 1, 0, 1]
    with torch.no_grad():
        model.params["readout.weight"][2, 0, 0] += 1.0
    first, index = model.distinct()
    assert first == [0, 1, 2] and index.tolist() == [0, 1, 2, 1]
    sub = model.subset([1, 2])
    assert torch.equal(sub.params["readout.weight"][1], model.params["readout.weight"][2])


def test_denormals_are_flushed_only_inside_the_block():
    from abcparam.transfer.denormals import flush_denormals

    tiny = torch.tensor([1e-39])  # a denormal float32
    with flush_denormals() as supported:
        inside = float(tiny * 1.0)
    assert float(tiny * 1.0) > 0.0  # off again after the block
    if supported:
        assert inside == 0.0


def test_denormals_are_flushed_on_every_torch_thread():
    """The flush reaches torch's OpenMP workers started before the block (the flag is per
    thread): a parallel op over denormals gives zeros in every thread's share."""
    from abcparam.transfer.denormals import flush_denormals

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        denormals = torch.full((1 << 22,), 1e-39)  # large enough to split across two threads
        assert int((denormals * 1.0 != 0).sum()) == denormals.numel()  # pool started, no flush
        with flush_denormals() as supported:
            inside = denormals * 1.0
        after = denormals * 1.0
    finally:
        torch.set_num_threads(threads)
    assert int((after != 0).sum()) == denormals.numel()  # off again on every thread
    if supported:
        assert int((inside != 0).sum()) == 0


def test_without_an_openmp_runtime_the_calling_thread_still_flushes(monkeypatch):
    """Where no libgomp is found (another torch build), the block falls back to the calling
    thread's flag alone, as torch's own call sets it."""
    from abcparam.transfer import denormals

    monkeypatch.setattr(denormals, "_openmp_parallel", lambda: None)
    tiny = torch.tensor([1e-39])
    with denormals.flush_denormals() as supported:
        inside = float(tiny * 1.0)
    assert float(tiny * 1.0) > 0.0
    if supported:
        assert inside == 0.0
