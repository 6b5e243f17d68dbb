"""One judging rule for every check (issue 28, item 2): the same tolerance, the standard error
reported but never widening it, at least three sizes, AdamW with a decay."""

from __future__ import annotations

import math

import pytest

from abcparam.coordcheck import judge


def test_the_rule_is_a_plain_tolerance():
    assert judge.within(0.14, 0.0) and judge.within(-0.15, 0.0)
    assert not judge.within(0.16, 0.0)
    assert not judge.within(float("nan"), 0.0) and not judge.within(0.0, None)
    assert judge.within(0.25, 0.0, tolerance=0.3)


def test_the_standard_error_counts_a_fit_as_unresolved_never_as_a_pass():
    assert judge.unresolved(0.08) and not judge.unresolved(0.07)
    assert not judge.unresolved(None) and not judge.unresolved(float("nan"))
    counts = judge.summary_counts([(True, 0.01), (False, 0.2), (True, 0.1)])
    assert counts == {"fits": 3, "passed": 2, "unresolved": 2}


def test_three_sizes_at_least():
    assert judge.MIN_SIZES == 3
    assert not judge.enough_sizes([128, 256]) and not judge.enough_sizes([128, 128, 256])
    assert judge.enough_sizes([2, 4, 8])
    assert "2 widths (128, 256)" in judge.too_few_sizes([256, 128])


def test_rule_text_states_tolerance_sizes_and_stderr():
    text = judge.rule_text(0.2)
    assert "0.2" in text and ">= 3 sizes" in text and "stderr" in text


def test_counts_say_how_many_configurations_they_cover():
    assert judge.count_text(5, 6, 1) == "5/6 judged fits over 1 configuration"
    text = judge.count_text(10, 10, 15, independent=11)
    assert text.startswith("10/10 judged fits over 15 configurations (11 independent")


def test_adamw_without_decay_is_refused():
    with pytest.raises(ValueError, match="weight_decay = 0.0"):
        judge.require_decay("adamw", 0.0)
    judge.require_decay("adamw", 0.1)
    judge.require_decay("adam", 0.0)


def _depth_result(err: float, miss: float):
    """A depth check whose records give a slope ``miss`` off its prediction with a spread."""
    from abcparam.coordcheck.depth import DepthCheckConfig, DepthCheckResult, _fit

    config = DepthCheckConfig(model="mlp", schemes=("mup",), depths=(2, 4, 8), seeds=2)
    recs = []
    for seed, tilt in ((0, miss - err), (1, miss + err)):
        for depth in config.depths:
            recs.append(
                {
                    "scheme": "mup",
                    "width": 128,
                    "depth": depth,
                    "seed": seed,
                    "step": 1,
                    "layer": "first.fc2",
                    "out": 1.0,
                    "delta": depth**tilt,
                    "update": None,
                }
            )
    result = DepthCheckResult(config)
    _fit(result.fits, recs, {"first.fc2": {"delta": 0.0}}, {}, "mup", 128, "depth", config)
    return result


def test_depth_check_no_longer_widens_the_tolerance_by_the_stderr():
    """0.2 off with a stderr of 0.1 passed under 0.15 + 2 stderr; under the one rule it fails
    and is counted as unresolved."""
    result = _depth_result(err=0.1, miss=0.2)
    fit = next(f for f in result.fits if f["quantity"] == "delta")
    assert math.isclose(fit["slope"], 0.2, abs_tol=1e-9) and fit["err"] == pytest.approx(0.1)
    assert fit["pass"] is False
    s = result.summary()
    assert s["depth_unresolved"] == 1 and "stderr" in s["rule"]


def test_depth_slopes_over_two_depths_are_not_judged():
    from abcparam.coordcheck.depth import DepthCheckConfig, DepthCheckResult, _fit

    config = DepthCheckConfig(model="mlp", schemes=("mup",), depths=(2, 4), seeds=1)
    recs = [
        {
            "scheme": "mup",
            "width": 128,
            "depth": d,
            "seed": 0,
            "step": 1,
            "layer": "first.fc2",
            "out": 1.0,
            "delta": 1.0,
            "update": None,
        }
        for d in config.depths
    ]
    result = DepthCheckResult(config)
    _fit(result.fits, recs, {"first.fc2": {"delta": 0.0}}, {}, "mup", 128, "depth", config)
    assert result.fits and not any(f.judged for f in result.fits)
    assert "2 depths" in result.summary()["depth_not_judged"]


def test_width_check_over_two_widths_is_not_judged():
    pytest.importorskip("torch")
    from abcparam.coordcheck import run_coord_check

    result = run_coord_check(widths=(16, 32), steps=1, seeds=1, progress=False)
    s = result.summary()
    assert s["verdict"] == judge.NOT_JUDGED and s["fits"] == 0 and not result.passed
    assert any("2 widths" in flag for flag in result.flags)


def test_own_model_totals_count_adamw_without_decay_once():
    from experiments.lab.own_models import _optimizers, totals

    rows = [
        {
            "model": "m",
            "scheme": "mup",
            "optimizer": "adam",
            "fits": 10,
            "passed": 9,
            "preset_passed": 8,
        },
        {
            "model": "m",
            "scheme": "mup",
            "optimizer": "adamw",
            "fits": 10,
            "passed": 9,
            "preset_passed": 8,
        },
        {"model": "m", "scheme": "sp", "optimizer": "adam", "refused": "tied"},
    ]
    t = totals(rows, weight_decay=0.0)
    assert t["ran"]["fits"] == 20 and t["independent"]["fits"] == 10
    assert t["independent"]["configurations"] == 1 and "repeat" in t["repeats"]
    assert totals(rows, weight_decay=0.5)["independent"]["fits"] == 20
    assert "adamw" not in _optimizers(0.0)


def test_check_refuses_adamw_without_decay():
    pytest.importorskip("torch")
    import abcparam
    from abcparam.coordcheck import check

    rules = abcparam.rules("mup", optimizer="adamw")
    with pytest.raises(ValueError, match="AdamW without decay is Adam"):
        check(lambda w: None, rules, (None, None), widths=(8, 16, 32))


def test_cpu_grid_reports_symmetric_configurations_as_symmetry_checks():
    """SP = NTP and MFP = muP on the MLP (abc-symmetry, TP-V Lemma J.1), with SGD and Adam: 4 of
    the grid's 15 configurations repeat others; nothing else is declared a repeat."""
    from experiments.lab.coordcheck_cpu_grid import grid, repeats

    configs = list(grid(quick=True))
    for cfg in configs:
        cfg.setdefault("steps", 3)
    assert repeats(configs) == {
        "mlp_ntp_sgd_derived": "mlp_sp_sgd_derived",
        "mlp_mup_sgd_derived": "mlp_mfp_sgd_derived",
        "mlp_ntp_adam_derived": "mlp_sp_adam_derived",
        "mlp_mup_adam_derived": "mlp_mfp_adam_derived",
    }


def test_symmetry_check_measures_identical_slopes():
    """The committed grid: each repeat's slopes equal its original's to float rounding."""
    from pathlib import Path

    from abcparam.records import load_json

    root = Path(__file__).resolve().parents[2] / "experiments/results/coordcheck_cpu"
    for one, two in (("sp", "ntp"), ("mfp", "mup")):
        for opt in ("sgd", "adam"):
            a = load_json(root / f"mlp_{one}_{opt}_derived/results.json")["fits"]
            b = load_json(root / f"mlp_{two}_{opt}_derived/results.json")["fits"]
            key = lambda f: (f["layer"], f["quantity"], f["step"])  # noqa: E731
            slopes = {key(f): f["measured_slope"] for f in a}
            assert {key(f) for f in b} == set(slopes)
            assert max(abs(f["measured_slope"] - slopes[key(f)]) for f in b) < 1e-4
    summary = (root / "summary.md").read_text()
    assert "over 11 configurations" in summary and "symmetry check" in summary


def test_cli_says_not_judged_over_two_widths(capsys):
    pytest.importorskip("torch")
    from abcparam.cli import main

    code = main(["coord-check", "--widths", "16,32", "--steps", "1", "--seeds", "1"])
    out = capsys.readouterr().out
    assert code == 1 and "not judged: 2 widths (16, 32)" in out
