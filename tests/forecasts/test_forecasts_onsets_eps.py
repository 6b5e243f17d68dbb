"""Onsets on a fine LR grid, the grid's own resolution, and the sweep settings the epsilon and
sensitivity-variant forecasts need (constant eps, independent decay, warmup, gradient trace)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from abcparam.forecasts.onsets import interpolated_onset, onset_exponent, shift_bounds

ROOT = Path(__file__).resolve().parents[2]


def power_curve(onset: float, base: float = 7.0, rise: float = 20.0, lrs=None) -> dict:
    """A logit that rises as eta^2 above ``base`` and reaches ``base + rise`` at ``onset``."""
    lrs = lrs or [x / 2 for x in range(-20, -9)]
    return {lr: base + rise * 2.0 ** (2 * (lr - onset)) for lr in lrs}


def test_interpolated_onset_finds_the_rise_between_grid_points():
    curve = power_curve(-7.3)
    got = interpolated_onset(curve, 20.0)
    assert got is not None and abs(got + 7.3) < 0.15  # log-linear interpolation of a smooth rise
    assert interpolated_onset(curve, 1e9) is None
    curve[-8.0] = math.inf
    assert interpolated_onset(curve, 20.0) <= -8.0


def test_onset_exponent_recovers_a_known_width_exponent_with_an_interval():
    onsets = {
        w: {s: -6.0 - 1.25 * math.log2(w / 32) + 0.05 * (s - 1) for s in range(3)}
        for w in (32, 64, 128)
    }
    fit = onset_exponent(onsets, bootstrap=200)
    assert fit["exponent"] == pytest.approx(-1.25, abs=1e-9)
    assert fit["interval"][0] <= -1.25 <= fit["interval"][1]
    assert onset_exponent({32: {0: -6.0}}, bootstrap=10)["exponent"] is None


def test_a_grid_onset_bounds_the_shift_by_a_grid_step_either_side():
    grid = [-11.7027, -9.2113, -6.7199, -4.2284, -1.737]
    lo, hi = shift_bounds(-4.2284, -6.7199, grid)
    assert lo == pytest.approx(-9.2113 + 4.2284) and hi == pytest.approx(0.0, abs=1e-9)


def test_the_saved_coarse_sp_onset_cannot_test_the_forecast():
    """The coarse sweep's SP onsets (one grid step apart) allow any shift in (-4.98, 0): the
    forecast -5/4 lies inside, and the interval is wider than the shift (not resolved)."""
    from experiments.lab.forecasts import _predict_onsets

    summary = json.loads((ROOT / "experiments/results/forecasts/cpu/summary.json").read_text())
    onsets = [
        {k: v for k, v in o.items() if k not in ("predicted_onset_log2_lr", "agrees")}
        for o in summary["onsets"]
        if o["variant"] == "plain" and o["scheme"] == "sp-constant-lr"
    ]
    _predict_onsets(onsets)
    wide = next(o for o in onsets if o["width"] == 64)
    assert wide["agrees"] and not wide["resolved"]
    assert wide["measured_shift_bounds"][1] - wide["measured_shift_bounds"][0] > 1.25


torch = pytest.importorskip("torch")


def test_new_settings_at_their_defaults_keep_the_saved_run_keys():
    from abcparam.transfer.sweep import RunConfig

    row = json.loads(
        (ROOT / "experiments/results/forecasts/cpu/sensitivity/runs.jsonl")
        .read_text()
        .split("\n")[0]
    )
    fields = {k: row[k] for k in RunConfig.__dataclass_fields__ if k in row}
    assert RunConfig(**fields).key == row["key"]
    assert RunConfig(**fields, eps=1e-3, scale_eps=False).key != row["key"]


def test_weight_decay_needs_adamw():
    from abcparam.transfer.sweep import grid

    with pytest.raises(ValueError, match="accepted: optimizer 'adamw'"):
        grid("mlp", ["mup"], "adam", [16], [-6.0], 1, weight_decay=1e-3)


def test_independent_decay_shrinks_weights_by_lambda_at_any_lr():
    """p <- p (1 - lambda) per step, whatever the LR (not lr * lambda: coupled AdamW)."""
    from abcparam.transfer.sweep import RunConfig

    for log2_lr in (-10.0, -4.0):
        before, after = _hidden_after_a_zero_gradient_step(
            RunConfig("mlp", "mup", "adamw", 32, log2_lr, 0, weight_decay=0.25)
        )
        assert torch.allclose(after, 0.75 * before, rtol=1e-5, atol=1e-7)


def _hidden_after_a_zero_gradient_step(cfg) -> tuple[torch.Tensor, torch.Tensor]:
    """A hidden weight before and after one optimizer step with zero gradients: decay alone."""
    from abcparam.transfer.sweep import build_run

    model, spec, opt = build_run(cfg)
    hidden = next(p for p in spec.params if p.kind == "hidden")
    w = spec.tensors[hidden.name]
    before = w.detach().clone()
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    return before, w.detach()


def test_coupled_decay_shrinks_weights_by_lr_times_lambda():
    """torch AdamW's p <- p (1 - lr lambda), with each layer's own LR; under μP the per-step
    decay of the hidden weights is then the same at every width (lambda scales as 1/lr)."""
    from abcparam.transfer.sweep import RunConfig, grid

    for width in (32, 128):
        for log2_lr in (-6.0, -3.0):
            cfg = RunConfig(
                "mlp", "mup", "adamw", width, log2_lr, 0, base_width=32, weight_decay=0.5,
                decay_convention="coupled",
            )  # fmt: skip
            before, after = _hidden_after_a_zero_gradient_step(cfg)
            shrink = 1 - 0.5 * 2.0**log2_lr  # at every width
            assert torch.allclose(after, shrink * before, rtol=1e-5, atol=1e-7)
    plain = RunConfig("mlp", "mup", "adamw", 32, -6.0, 0, weight_decay=0.5)
    assert plain.key != RunConfig(**{**plain.__dict__, "decay_convention": "coupled"}).key
    with pytest.raises(ValueError, match="decay_convention = 'lr'; accepted: coupled, independent"):
        grid("mlp", ["mup"], "adamw", [16], [-6.0], 1, weight_decay=0.5, decay_convention="lr")


def test_warmup_slows_the_first_steps_and_the_trace_records_gradient_rms():
    from abcparam.transfer.sweep import RunConfig, train

    common = dict(steps=6, batch=16, trace_every=2)
    plain = train(RunConfig("transformer", "mup", "adam", 16, -5.0, 0, base_width=16, **common))
    slow = train(
        RunConfig("transformer", "mup", "adam", 16, -5.0, 0, base_width=16, warmup=1000, **common)
    )
    # a 1000-step warmup keeps 6 steps at <= 0.6 % of the LR: the loss barely leaves its start
    assert abs(slow["val_loss"] - slow["initial_loss"]) < abs(
        plain["val_loss"] - plain["initial_loss"]
    )
    grads = plain["trace"]["grad_rms_hidden"]
    assert len(grads) == 3 and all(g > 0 for g in grads)


def test_epsilon_forecast_end_to_end_at_tiny_size(tmp_path):
    from experiments.lab.forecasts_epsilon import main

    assert main(["--preset", "quick", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    hidden = summary["measured"]["hidden"]
    trained = summary["forecast"]["from_training_gradient"]
    # the training-gradient forecast is the base width's measured gradient on the n^-1 law
    assert trained["grad_rms_base"]["hidden"] == pytest.approx(hidden["grad_rms"][0])
    cross = {c["kind"]: c for c in trained["crossovers"]}
    assert cross["hidden"]["crossover_width"] == pytest.approx(
        16 * hidden["grad_rms"][0] / 3e-4, rel=1e-6
    )
    assert "abcparam epsilon --scheme mup --base-width 16 --eps 0.0003" in trained["command"]
    assert set(summary["curves"]) == {"16", "32"}
    assert summary["provenance"]["git_commit"]


def test_the_small_rise_onset_exponent_is_the_cross_terms():
    """While queries have moved little the logit's change is the cross term q0·Δk, linear in the
    LR: SP with one LR moves its onset as n^-3/2 there, n^-5/4 once Δ^2 leads; μP's stays put."""
    import sympy

    import abcparam
    from abcparam.engine.instability import instability_scaling

    sp = instability_scaling(abcparam.rules("sp", optimizer="adam").with_c(0))
    assert sp.onset_lr_linear == sympy.Rational(-3, 2) and sp.onset_lr == sympy.Rational(-5, 4)
    assert instability_scaling(abcparam.rules("mup", optimizer="adam")).onset_lr_linear == 0
    a = sympy.Symbol("a")
    for scheme in ("sp", "mup", "u-mup"):
        rules = abcparam.rules(scheme, optimizer="adam")
        s = instability_scaling(rules, alignment=a)
        x = sympy.sympify(rules.attention_logit_exponent)
        assert sympy.simplify(s.onset_lr_linear - s.onset_lr + (1 - x) / 2) == 0
