"""Forecasts from saved runs (torch-free): the loss-vs-width law recovers a known truth, its
interval covers it, bad input is refused; Wortsman et al.'s LR sensitivity and loss-curve
collapse on curves whose answer is known."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import abcparam
from abcparam.cli import main as cli
from abcparam.forecasts import (
    collapse_spread,
    lr_sensitivity,
    predict_loss,
    sensitivity_parts,
    sensitivity_table,
    width_slope,
)


def truth(n: float) -> float:
    return 1.5 + 3.0 * n**-0.5


def noisy_runs(widths=(64, 128, 256), seeds=3, noise=0.005, rng_seed=1):
    rng = np.random.default_rng(rng_seed)
    return [(n, s, truth(n) + rng.normal(0, noise)) for n in widths for s in range(seeds)]


def test_law_recovers_a_known_power_law_without_noise():
    runs = [(n, 0, truth(n)) for n in (32, 64, 128, 256)]
    p = predict_loss(runs, width=2048, bootstrap=20)
    assert p.exponent == pytest.approx(0.5, abs=1e-4)
    assert p.l_inf == pytest.approx(1.5, abs=1e-4)
    assert p.loss == pytest.approx(truth(2048), abs=1e-5)


def test_bootstrap_interval_covers_the_truth_in_most_draws():
    """90 % intervals from 3 seeds over 3 widths: the truth at 512 inside in most of 12 draws."""
    inside = 0
    for draw in range(12):
        p = predict_loss(noisy_runs(rng_seed=draw), width=512, bootstrap=100, seed=draw)
        inside += p.interval[0] <= truth(512) <= p.interval[1]
        assert p.interval[0] <= p.loss <= p.interval[1] + 1e-9
    assert inside >= 7


def test_shared_seed_effects_are_resampled_jointly():
    """A seed that shifts the loss at every width (same data order) moves the whole curve, not
    its shape: the paired bootstrap's interval is narrower than one that ignores the pairing."""
    offsets = {0: -0.1, 1: 0.0, 2: 0.1}
    paired = [(n, s, truth(n) + offsets[s]) for n in (64, 128, 256) for s in range(3)]
    unpaired = [(n, s + 10 * i, v) for i, (n, s, v) in enumerate(paired)]
    a = predict_loss(paired, width=512, bootstrap=200, paired=True)
    b = predict_loss(paired, width=512, bootstrap=200)
    assert a.paired and not b.paired
    assert a.interval[1] - a.interval[0] < 0.7 * (b.interval[1] - b.interval[0])
    with pytest.raises(ValueError, match="same seeds"):
        predict_loss(unpaired, width=512, bootstrap=10, paired=True)


def test_forecast_beats_predicting_no_change():
    p = predict_loss(noisy_runs(noise=0.002), width=512, bootstrap=100)
    result = p.evaluate([truth(512)])
    assert abs(result["error"]) < result["last_gap"]
    assert result["last_gap"] == pytest.approx(abs(truth(256) - truth(128)), abs=0.01)


def test_top_level_and_rows_and_folder(tmp_path):
    rows = [
        {"scheme": "mup", "width": n, "seed": s, "log2_lr": -7.0, "val_loss": v, "diverged": False}
        for n, s, v in noisy_runs()
    ]
    (tmp_path / "runs.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    a = abcparam.predict_loss(tmp_path, width=512, bootstrap=50)
    b = predict_loss(rows, width=512, bootstrap=50)
    assert a.loss == pytest.approx(b.loss) and a.widths == (64, 128, 256)


@pytest.mark.parametrize(
    "runs, kwargs, message",
    [
        ([(64, 0, 2.0), (128, 0, 1.9)], {}, "at least 3"),
        ([(64, 0, 2.0), (128, 0, 1.9), (256, 0, math.inf)], {}, "at least 3"),
        (noisy_runs(), {"widths": (64, 128, 512)}, "were not trained"),
        (noisy_runs(widths=(64, 128, 256, 512)), {"widths": (128, 256, 512)}, "not trained"),
        (noisy_runs(), {"confidence": 1.5}, "confidence"),
        ([(64, 2.0)], {}, "triples"),
    ],
)
def test_bad_input_is_named(runs, kwargs, message):
    with pytest.raises(ValueError, match=message):
        predict_loss(runs, width=512, bootstrap=10, **kwargs)


def test_rows_with_two_schemes_or_lrs_need_a_choice():
    rows = [
        {"scheme": s, "width": n, "seed": 0, "log2_lr": lr, "val_loss": 2.0, "diverged": False}
        for s in ("mup", "sp")
        for n in (64, 128, 256)
        for lr in (-7.0, -6.0)
    ]
    with pytest.raises(ValueError, match="schemes"):
        predict_loss(rows, width=512)
    with pytest.raises(ValueError, match="several learning rates"):
        predict_loss(rows, width=512, scheme="mup")


def test_cli_predicts_and_refuses(tmp_path, capsys):
    rows = [
        {"scheme": "mup", "width": n, "seed": s, "log2_lr": -7.0, "val_loss": v, "diverged": False}
        for n, s, v in noisy_runs()
    ]
    (tmp_path / "runs.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    args = ["predict-loss", "--runs", str(tmp_path), "--width", "512", "--bootstrap", "50"]
    assert cli([*args, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["width"] == 512 and out["interval"][0] <= out["loss"] <= out["interval"][1]
    assert cli([*args, "--widths", "64,128"]) == 2
    assert "at least 3" in capsys.readouterr().err
    assert cli(["predict-loss", "--runs", str(tmp_path / "none"), "--width", "512"]) == 2


def test_sensitivity_is_zero_for_a_flat_curve_and_grows_with_divergence():
    assert lr_sensitivity([2.0, 2.0, 2.0], initial=4.0) == 0.0
    # one of four LRs diverges (counts as L0 = 4): mean(2, 2, 2, 4) - 2 = 0.5
    assert lr_sensitivity([2.0, 2.0, 2.0, math.inf], initial=4.0) == pytest.approx(0.5)
    # a loss above L0 is capped at L0
    assert lr_sensitivity([2.0, 9.0], initial=4.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 2"):
        lr_sensitivity([2.0], initial=4.0)


def test_sensitivity_table_means_over_seeds():
    rows = [
        {
            "scheme": "mup",
            "width": 64,
            "seed": s,
            "log2_lr": lr,
            "val_loss": v,
            "initial_loss": 4.0,
            "diverged": False,
        }
        for s in range(3)
        for lr, v in ((-10.0, 3.0), (-8.0, 2.0 + 0.1 * s), (-6.0, 2.5))
    ]
    table = sensitivity_table(rows)
    expected = [np.mean([3.0, 2.0 + 0.1 * s, 2.5]) - (2.0 + 0.1 * s) for s in range(3)]
    assert table[("mup", 64)]["mean"] == pytest.approx(np.mean(expected))
    assert table[("mup", 64)]["seeds"] == 3 and table[("mup", 64)]["stderr"] is not None
    assert table[("mup", 64)]["by_seed"][2] == pytest.approx(expected[2])
    rows[0]["log2_lr"] = -11.0  # no longer evenly spaced
    with pytest.raises(ValueError, match="evenly spaced"):
        sensitivity_table(rows)


def test_sensitivity_parts_add_up_to_the_sensitivity_and_split_at_the_given_lr():
    curve = ((-10.0, 3.0), (-8.0, 2.0), (-6.0, math.inf), (-4.0, 9.0))  # diverged, and above L0
    rows = [
        {
            "seed": 0,
            "log2_lr": lr,
            "val_loss": v,
            "initial_loss": 4.0,
            "diverged": not math.isfinite(v),
        }
        for lr, v in curve
    ]
    (parts,) = sensitivity_parts(rows, split_log2_lr=-7.0).values()
    assert parts == {"below": (3.0 + 2.0) / 4, "above": (4.0 + 4.0) / 4, "best": 2.0}
    total = parts["below"] + parts["above"] - parts["best"]
    assert total == pytest.approx(lr_sensitivity([v for _, v in curve], initial=4.0))


def test_width_slope_recovers_a_known_rise_and_pairs_the_seeds():
    """0.1 nats per doubling plus a per-seed offset shared by every width (a seed's data order):
    the paired interval is exact; noise that differs by width widens it."""
    offsets = {0: -0.05, 1: 0.0, 2: 0.08}
    exact = {
        w: {s: 0.5 + 0.1 * k + o for s, o in offsets.items()} for k, w in enumerate((64, 128, 256))
    }
    fit = width_slope(exact)
    assert fit["slope"] == pytest.approx(0.1) and fit["low"] == pytest.approx(0.1)
    assert fit["high"] == pytest.approx(0.1) and fit["widths"] == [64, 128, 256]
    rng = np.random.default_rng(0)
    noisy = {w: {s: v + rng.normal(0, 0.05) for s, v in per.items()} for w, per in exact.items()}
    fit = width_slope(noisy)
    assert fit["low"] < fit["slope"] < fit["high"] and fit["high"] - fit["low"] > 0.01
    with pytest.raises(ValueError, match=r"widths \[64, 128\]; accepted: at least 3"):
        width_slope({64: exact[64], 128: exact[128]})
    with pytest.raises(ValueError, match=r"seeds \[0\] shared"):
        width_slope({64: {0: 1.0, 1: 1.0}, 128: {0: 1.0}, 256: {0: 1.0, 2: 1.0}})


def _curve_rows(shape_by_width):
    rows = []
    for width, shape in shape_by_width.items():
        for seed in range(3):
            steps = list(range(10, 110, 10))
            loss = [shape(t / 100) * (1.0 + 0.5 / width) + 1e-3 * seed for t in steps]
            rows.append(
                {
                    "width": width,
                    "seed": seed,
                    "steps": 100,
                    "diverged": False,
                    "trace": {"step": steps, "loss": loss},
                }
            )
    return rows


def test_curves_that_differ_only_by_scale_collapse():
    same = _curve_rows({64: lambda x: 2 + 1 / (x + 0.1), 128: lambda x: 2 + 1 / (x + 0.1)})
    other = _curve_rows({64: lambda x: 2 + 1 / (x + 0.1), 128: lambda x: 2 + 3 / (x + 0.1)})
    a, b = collapse_spread(same), collapse_spread(other)
    assert a["spread"] < 1e-3 < b["spread"]
    with pytest.raises(ValueError, match="two or more widths"):
        collapse_spread(same[:3])


@pytest.mark.parametrize("name", ["abcparam.forecasts.scaling", "abcparam.engine.instability"])
def test_docstring_examples_run(name):
    import doctest
    import importlib

    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0, name
