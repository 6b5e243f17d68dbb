"""The batched sweep's fast paths: the flat-buffer optimizer step equals torch's optimizers model
by model, gradients land in the flat buffer, a dead model is zeroed alone, Muon on transposed
(bmm-layout) weights equals Muon on the plain ones, and the benchmark's profile runs."""

from __future__ import annotations

import math

import pytest
import torch

from abcparam.torch import Lion, Muon
from abcparam.transfer.batched import Slot, update
from abcparam.transfer.flat_step import FlatBundle

LRS, WDS = [1e-3, 3e-2, 1e-1], [0.0, 0.1, 0.5]
SHAPES = {"w": (6, 5), "b": (5,)}


#: a per-layer epsilon, as the engine's epsilon rules give (the fused step groups by it)
EPS = {"w": 1e-8, "b": 1e-3}


def _bundle(
    kind: str, fixed: dict, ps: dict[str, list[torch.Tensor]], fused: bool = True
) -> FlatBundle:
    M = len(LRS)
    return FlatBundle(
        kind,
        fixed,
        {n: torch.stack([p.detach().clone() for p in ts]) for n, ts in ps.items()},
        {n: torch.tensor(LRS, dtype=torch.float64) for n in ps},
        {n: torch.tensor(WDS) for n in ps},
        {n: torch.full((M,), EPS[n]) for n in ps},
        fused=fused,
    )


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize(
    ("cls", "kind", "fixed"),
    [
        (torch.optim.Adam, "Adam", {"betas": (0.9, 0.999)}),  # coupled L2 decay
        (torch.optim.AdamW, "AdamW", {"betas": (0.9, 0.999)}),  # decoupled decay
        (Lion, "Lion", {"betas": (0.9, 0.99)}),
    ],
)
def test_flat_step_equals_torch_per_model(cls, kind, fixed, fused):
    """Three models with their own LR and weight decay, two tensors with their own epsilon,
    five steps; the fused Adam kernel and the eight-op step alike."""
    torch.manual_seed(0)
    ps = {n: [torch.randn(*s, requires_grad=True) for _ in LRS] for n, s in SHAPES.items()}
    opts = [
        cls(
            [
                {"params": [ps[n][i]], **({"eps": EPS[n]} if cls is not Lion else {})}
                for n in SHAPES
            ],
            lr=lr,
            weight_decay=wd,
        )
        for i, (lr, wd) in enumerate(zip(LRS, WDS))
    ]
    bundle = _bundle(kind, fixed, ps, fused)
    # the fused kernel runs where it applies: once per epsilon, over that epsilon's spans
    if fused and kind != "Lion":
        assert bundle._fused is not None and sorted(e for e, _ in bundle._fused) == pytest.approx(
            sorted(EPS.values())
        )
    else:
        assert bundle._fused is None
    gen = torch.Generator().manual_seed(1)
    for t in range(1, 6):
        bundle.zero_grad()
        for n, s in SHAPES.items():
            grads = torch.randn(len(LRS), *s, generator=gen)
            for i in range(len(LRS)):
                ps[n][i].grad = grads[i].clone()
            bundle.params[n].grad.add_(grads)  # the flat gradient buffer, through its view
        for o in opts:
            o.step()
        bundle.step(t)
    for n in SHAPES:
        for i in range(len(LRS)):
            torch.testing.assert_close(
                bundle.params[n][i].detach(), ps[n][i].detach(), rtol=0, atol=1e-6
            )
    # the per-model LR mattered: the models moved by different amounts
    assert not torch.allclose(bundle.params["w"][0], bundle.params["w"][2])


def test_backward_fills_the_flat_gradient_and_kill_zeroes_one_model():
    torch.manual_seed(0)
    ps = {n: [torch.randn(*s) for _ in LRS] for n, s in SHAPES.items()}
    bundle = _bundle("Adam", {"betas": (0.9, 0.999)}, ps)
    w, b = bundle.params["w"], bundle.params["b"]
    assert w.is_leaf and w.requires_grad
    ((w * 2).sum() + (b * 3).sum()).backward()
    assert bundle.grad.sum().item() == pytest.approx(2 * w.numel() + 3 * b.numel())
    bundle.zero_grad()
    (w**2).sum().backward()
    torch.testing.assert_close(w.grad, 2 * w.detach())
    assert b.grad.abs().sum() == 0
    bundle.step(1)
    before = w.detach().clone()
    bundle.kill(torch.tensor([False, True, False]))
    assert w[1].abs().sum() == 0 and bundle.params["b"][1].abs().sum() == 0
    torch.testing.assert_close(w[0].detach(), before[0])
    torch.testing.assert_close(w[2].detach(), before[2])


def test_load_state_brings_back_a_killed_model_and_its_scheduled_lr_and_decay():
    """After a kill at a schedule factor, loading a saved state restores the parameters and
    moments, and the same factor then recomputes the LR and decay from the restored peak."""
    torch.manual_seed(0)
    ps = {n: [torch.randn(*s) for _ in LRS] for n, s in SHAPES.items()}
    bundle = _bundle("AdamW", {"betas": (0.9, 0.999)}, ps)
    bundle.set_factor(0.5)
    lr, decay = bundle.lr.clone(), bundle.decay.clone()
    saved = {k: t.clone() for k, t in bundle.state().items()}
    bundle.kill(torch.tensor([False, True, False]))
    assert bundle.lr64.abs().sum() < saved["lr64"].abs().sum()
    bundle.load_state(saved)
    for k, t in bundle.state().items():
        torch.testing.assert_close(t, saved[k])
    bundle.set_factor(0.5)  # the same factor as before the kill: not skipped
    torch.testing.assert_close(bundle.lr, lr)
    torch.testing.assert_close(bundle.decay, decay)


def test_flat_bundle_refuses_other_optimizers():
    with pytest.raises(ValueError, match="no flat step for Muon; accepted: Adam, AdamW, Lion"):
        _bundle("Muon", {}, {"w": [torch.zeros(2, 2)]})


def test_muon_on_transposed_weights_equals_muon_on_plain_ones():
    """Linear weights are stored [M, in, out] for bmm: Muon's step is the transpose of the step on
    [M, out, in] (Newton-Schulz commutes with transposition), with the LR factor of [out, in]."""
    fixed = {
        "momentum": 0.95,
        "nesterov": True,
        "ns_coefficients": (3.4445, -4.775, 2.0315),
        "ns_steps": 5,
        "adjust_lr_fn": "match_rms_adamw",
    }
    torch.manual_seed(0)
    plain = torch.randn(3, 8, 4)
    lr = torch.tensor(LRS, dtype=torch.float64)

    def slot(transposed: bool) -> Slot:
        return Slot(
            "Muon", fixed, lr, torch.tensor(WDS), torch.full((3,), 1e-7), transposed=transposed
        )

    a, b = plain.clone(), plain.transpose(1, 2).contiguous()
    sa, sb = slot(False), slot(True)
    gen = torch.Generator().manual_seed(2)
    for t in range(1, 4):
        g = torch.randn(3, 8, 4, generator=gen)
        a.grad, b.grad = g.clone(), g.transpose(1, 2).contiguous()
        update(a, sa, t)
        update(b, sb, t)
    torch.testing.assert_close(b.transpose(1, 2), a, rtol=0, atol=1e-6)
    # and the plain one is torch's Muon, model by model (the factor taken from [out, in])
    for i in range(3):
        p = plain[i].clone().requires_grad_(True)
        opt = Muon([p], lr=LRS[i], weight_decay=WDS[i], adjust_lr_fn="match_rms_adamw")
        gen = torch.Generator().manual_seed(2)
        for _ in range(3):
            p.grad = torch.randn(3, 8, 4, generator=gen)[i].clone()
            opt.step()
        torch.testing.assert_close(a[i], p.detach(), rtol=0, atol=1e-5)


def test_benchmark_profile_quick(tmp_path):
    import json

    from experiments.lab.bench_batched_sweep import main

    args = ["--quick", "--repeats", "1", "--models", "mlp", "--threads", "1", "--lrs", "2"]
    assert main([*args, "--profile", "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "timings.json").read_text())
    prof = saved["profiles"]["mlp"]
    for path in ("separate", "batched"):
        assert 0 < prof[path]["matmul_share"] <= 1 and prof[path]["top_ops_s"]
    assert math.isfinite(prof["bound_one_thread"]) and prof["bound_one_thread"] >= 1
    assert "load_avg_at_save" in saved and saved["flush_denormals"] == "both paths"


def test_the_profile_runs_at_most_profile_steps(monkeypatch):
    """The profiler keeps every op's event: a long benchmark is profiled over its first steps
    only (16 GPT runs of 100 steps under it filled 24 GB)."""
    from experiments.lab import bench_batched_sweep as bench

    monkeypatch.setattr(bench, "PROFILE_STEPS", 2)
    prof = bench.profile("mlp", 16, steps=5, lrs=2)
    assert prof["steps"] == 2


def test_best_of_threads_compares_each_path_at_its_fastest_setting():
    """The one-by-one path's 2-thread slowdown must not count as a batching speed-up (each path
    judged by the median of its repeats)."""
    from experiments.lab.bench_batched_sweep import best_of_threads

    rows = [
        {
            "model": "transformer",
            "batch": 64,
            "threads": 1,
            "separate_s": [5.0, 4.0, 2.0],
            "batched_s": [4.0, 3.0, 1.5],
        },
        {
            "model": "transformer",
            "batch": 64,
            "threads": 2,
            "separate_s": [9.0, 8.0, 4.0],
            "batched_s": [3.0, 2.0, 1.0],
        },
        {
            "model": "transformer",
            "batch": 128,
            "threads": 1,
            "separate_s": [10.0, 9.0, 4.5],
            "batched_s": [4.0, 3.0, 1.5],
        },
    ]
    best = best_of_threads(rows)
    assert best["transformer batch 64"] == {
        "separate_s": 4.0,
        "separate_threads": 1,
        "batched_s": 2.0,
        "batched_threads": 2,
        "speedup": 2.0,
    }
    assert best["transformer batch 128"]["speedup"] == 3.0


def test_benchmark_gpt_batches_quick(tmp_path):
    """The GPT is timed and profiled at every batch asked for, each labelled with it."""
    import json

    from experiments.lab.bench_batched_sweep import main

    args = ["--quick", "--repeats", "1", "--models", "transformer", "--threads", "1"]
    args += ["--lrs", "2", "--gpt-batches", "16,32", "--profile", "--out", str(tmp_path)]
    assert main(args) == 0
    saved = json.loads((tmp_path / "timings.json").read_text())
    assert [b["batch"] for b in saved["benchmarks"]] == [16, 32]
    assert set(saved["best_of_threads"]) == {"transformer batch 16", "transformer batch 32"}
    assert set(saved["profiles"]) == {"transformer batch 16", "transformer batch 32"}
    for p in saved["profiles"].values():
        assert p["bound_one_thread"] > 0 and p["batched"]["matmul_s"] > 0
        assert p["batched"]["attention_s"] > 0  # the batched GPT's attention runs in SDPA


def test_the_all_cores_bound_spreads_the_unsharable_kernels_over_the_cores():
    """The ceiling of any batching: the separate time over matmul + attention (scaled from the
    profiled steps to the timed ones) divided among the cores; an old profile without
    attention_s reads both kernels from its top ops."""
    from experiments.lab.bench_batched_sweep import ATTENTION_OPS, cores_bound

    new = {"steps": 20, "batched": {"matmul_s": 1.0, "attention_s": 0.5, "top_ops_s": {}}}
    assert cores_bound(new, separate_s=15.0, steps=100, cores=2) == pytest.approx(4.0)
    assert cores_bound(new, separate_s=15.0, steps=100, cores=1) == pytest.approx(2.0)
    old = {
        "steps": 20,
        "batched": {"matmul_s": 1.0, "top_ops_s": dict.fromkeys(ATTENTION_OPS, 0.25)},
    }
    old["batched"]["top_ops_s"]["aten::gelu"] = 9.0  # per-element work a fusion could cut
    assert cores_bound(old, separate_s=15.0, steps=100, cores=2) == pytest.approx(4.0)
