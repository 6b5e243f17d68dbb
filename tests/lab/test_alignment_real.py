"""Alignment on real data: the measurement pipeline, its controls, and what the engine makes of it."""

import math

import pytest
import sympy

import abcparam
from experiments.lab import alignment_real as ar


def test_log_steps_are_log_spaced_and_end_at_the_last_step():
    steps = ar.log_steps(1000)
    assert steps[0] == 1 and steps[-1] == 1000
    assert list(steps) == sorted(set(steps))
    assert {1, 2, 3, 5, 10, 100, 500} <= set(steps)
    assert ar.log_steps(300)[-1] == 300


def test_alignment_exponent_is_the_slope_against_fan_in_per_seed():
    records = []
    for seed, exponent in ((0, 0.7), (1, 0.9)):
        for width in (64, 128, 256, 512):
            records.append(
                {
                    "layer": "readout",
                    "step": 5,
                    "seed": seed,
                    "width": width,
                    "fan_in": width,
                    "align_omega": 3.0 * width**exponent,
                    "align_alpha": 2.0 * width**0.5,
                    "align_u": float("nan"),
                }
            )
    fits = {(f["layer"], f["variable"]): f for f in ar.alignment_exponents(records)}
    omega = fits[("readout", "omega")]
    assert omega["per_seed"] == pytest.approx([0.7, 0.9])
    assert omega["mean"] == pytest.approx(0.8)
    assert omega["std"] == pytest.approx(math.sqrt(0.02))
    assert fits[("readout", "alpha")]["mean"] == pytest.approx(0.5)
    assert ("readout", "u") not in fits  # non-finite ratios are not fitted


def test_shuffled_targets_keep_the_labels_but_not_their_meaning():
    true = ar._Stream("mlp", "true", 64, seed=0)
    shuffled = ar._Stream("mlp", "shuffled", 64, seed=0)
    assert sorted(true.y.tolist()) == sorted(shuffled.y.tolist())
    assert (true.y != shuffled.y).float().mean() > 0.5
    gaussian = ar._Stream("mlp", "gaussian", 64, seed=0)
    x, y = gaussian.next()
    assert abs(float(x.std()) - 1.0) < 0.1 and x.shape == (64, 64)
    with pytest.raises(ValueError, match="unknown condition 'labels'.*true, shuffled, gaussian"):
        ar._Stream("mlp", "labels", 64, seed=0)


def test_measured_readout_omega_moves_sp_hidden_rates_not_mup():
    """Feeding omega_readout = 0.9 into the engine: SP's readout (a + b = 1/2) needs the layers
    below to move less, by n^-(omega - 1/2); muP's readout (a + b = 1) absorbs it."""
    run = {
        "spec": {"scheme": "sp", "optimizer": "adam"},
        "alignment": [
            {"layer": "readout", "variable": "omega", "step": 10, "mean": 0.9},
            {"layer": "readout", "variable": "alpha", "step": 10, "mean": 1.0},
            {"layer": "hidden.1", "variable": "alpha", "step": 10, "mean": 1.0},
        ],
    }
    implied, measured = ar.implied_rules(run, steps=(10,))
    preset = abcparam.rules("sp", optimizer="adam")
    assert measured["readout"]["omega"] == pytest.approx(0.9)
    assert implied["hidden"].c - preset["hidden"].c == sympy.Rational(2, 5)
    assert implied["readout"].c == preset["readout"].c
    run["spec"]["scheme"] = "mup"
    implied_mup, _ = ar.implied_rules(run, steps=(10,))
    assert implied_mup["hidden"].c == abcparam.rules("mup", optimizer="adam")["hidden"].c


def test_quick_run_records_every_layer_at_the_measured_steps():
    spec = ar.RunSpec(
        "mlp",
        "sp",
        "adam",
        "true",
        widths=(32, 64),
        seeds=1,
        steps=3,
        log2_lr=-7.0,
        measure_at=(1, 3),
    )
    result = ar.run_spec(spec, progress=False)
    got = {(a["layer"], a["variable"], a["step"]) for a in result["alignment"]}
    assert ("readout", "omega", 3) in got and ("hidden.0", "alpha", 1) in got
    assert not result["nonfinite"]


def test_per_kind_sweep_trains_the_other_kinds_at_the_fixed_rate():
    import torch

    from abcparam.torch import MLP, build_optimizer, parametrize
    from abcparam.transfer.sweep import RunConfig, _kind_lrs

    cfg = RunConfig(
        "mlp", "sp", "adam", 128, -4.0, 0, base_width=64, sweep_kind="readout", fixed_log2_lr=-8.0
    )
    model = MLP(128, depth=2, in_dim=64, out_dim=10)
    spec = parametrize(model, abcparam.rules("sp", optimizer="adam"), base_width=64)
    opt = build_optimizer(model, spec, lr=_kind_lrs(cfg))
    lrs = {name: g["lr"] for g in opt.param_groups for name in g["param_names"]}
    assert lrs["readout.weight"] == pytest.approx(2.0**-4 * 2.0**-1)  # c = 1, ratio 2
    assert lrs["hidden.0.weight"] == pytest.approx(2.0**-8 * 2.0**-1)
    assert lrs["embedding.weight"] == pytest.approx(2.0**-8)
    assert isinstance(opt, torch.optim.Adam)
    # the per-kind fields do not change the identity of ordinary runs
    plain = RunConfig("mlp", "sp", "adam", 128, -4.0, 0)
    assert plain.key != cfg.key and len(plain.key) == 16
