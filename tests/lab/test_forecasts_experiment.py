"""The forecasts experiment end to end at tiny size (the GPU script's CPU mode): tune, scale,
sensitivity, and the analysis the book reads, with provenance."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]


def _runs_at(configs: list, width: int) -> set:
    """The runs' every setting with the width replaced: two presets that differ only in the
    width give the same set."""
    from dataclasses import asdict

    return {tuple(sorted({**asdict(c), "width": width}.items(), key=str)) for c in configs}


def test_gpu_script_runs_the_quick_preset_and_analyses(tmp_path):
    done = subprocess.run(
        ["bash", str(ROOT / "experiments/gpu/forecasts.sh"), str(tmp_path), "cpu", "400", "--tiny"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, (tmp_path / "forecasts.log").read_text()[-2000:]
    out = tmp_path / "forecasts"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["provenance"]["git_commit"]
    assert summary["tuned_log2_lr"] in (-8.0, -6.0)
    for scheme in ("mup", "sp-constant-lr"):
        forecast = summary["forecast"][scheme]
        assert forecast["width"] == 48 and forecast["widths"] == [16, 24, 32]
        assert "error" in forecast["held_out"] and forecast["held_out"]["last_gap"] >= 0
        assert summary["collapse"][scheme]["widths"] == [16, 24, 32, 48]
    variants = {row["variant"] for row in summary["sensitivity"]}
    assert variants == {"plain", "qk-layernorm+z-loss"}
    assert {o["scheme"] for o in summary["onsets"]} == {"sp-constant-lr", "mup", "u-mup"}
    assert set(summary["onset_fine"]["schemes"]) == {"sp-constant-lr", "mup"}
    extra = {row["variant"] for row in summary["sensitivity_variants"]["table"]}
    assert extra == {"plain", "independent-decay", "warmup"}
    assert summary["sensitivity_variants"]["base_width"] == 8
    eps = json.loads((out / "epsilon" / "summary.json").read_text())
    assert eps["measured"]["hidden"]["predicted_slope"] == -1.0
    assert (tmp_path / "results.tar.gz").stat().st_size > 0
    config = json.loads((out / "config.json").read_text())
    assert config["preset"] == "quick" and config["sizes"]["scale_widths"] == [16, 24, 32, 48]


def test_sensitivity_preset_runs_wortsmans_range_on_a_half_octave_grid(tmp_path):
    from experiments.lab.forecasts import PRESETS, Preset, _phase_configs, _sensitivity_variants

    configs = _phase_configs("sensitivity", PRESETS["cpu-sensitivity"], "cpu", tmp_path, 1)
    lrs = sorted({c.log2_lr for c in configs})
    steps = {round(b - a, 3) for a, b in zip(lrs, lrs[1:])}
    assert len(lrs) == 21 and steps <= {0.498, 0.499}
    assert 2 ** lrs[0] == pytest.approx(3e-4, rel=1e-3) and 2 ** lrs[-1] == pytest.approx(
        0.3, rel=1e-3
    )
    assert {c.width for c in configs} == {64, 128} and {c.steps for c in configs} == {1000}
    assert not any(c.qk_layernorm or c.z_loss for c in configs)  # the plain recipe only
    with pytest.raises(ValueError, match="'qk'.*accepted: plain"):
        _sensitivity_variants(Preset(8, (8,), (-7.0,), 1, (8,), 2, 1, sensitivity_variants=("qk",)))


def test_sensitivity_preset_measures_no_width_where_the_schemes_coincide(tmp_path):
    from experiments.lab.forecasts import PRESETS, _phase_configs

    configs = _phase_configs("sensitivity", PRESETS["cpu-sensitivity"], "cpu", tmp_path, 1)
    assert all(c.base_width < c.width for c in configs)


def test_mitigation_preset_is_the_same_grid_with_qk_layernorm_and_z_loss(tmp_path):
    """cpu-sensitivity-qk differs from cpu-sensitivity's width-128 runs only in the recipe."""
    from experiments.lab.forecasts import PRESETS, _phase_configs

    plain = _phase_configs("sensitivity", PRESETS["cpu-sensitivity"], "cpu", tmp_path, 1)
    qk = _phase_configs("sensitivity", PRESETS["cpu-sensitivity-qk"], "cpu", tmp_path, 1)
    assert all(c.qk_layernorm and c.z_loss == 1e-4 for c in qk)
    same = {(c.scheme, c.log2_lr, c.seed, c.steps, c.base_width) for c in plain if c.width == 128}
    assert {(c.scheme, c.log2_lr, c.seed, c.steps, c.base_width) for c in qk} == same


def test_mitigation_256_presets_are_the_width_128_mitigation_at_width_256(tmp_path):
    """cpu-sensitivity-qk-256 (SP, μP) and cpu-sensitivity-qk-umup-256 (u-μP) together are
    cpu-sensitivity-qk's runs but for the width: the same recipe, grid, seeds, length and base."""
    from experiments.lab.forecasts import PRESETS, _phase_configs

    qk = _phase_configs("sensitivity", PRESETS["cpu-sensitivity-qk"], "cpu", tmp_path, 1)
    first = _phase_configs("sensitivity", PRESETS["cpu-sensitivity-qk-256"], "cpu", tmp_path, 1)
    second = _phase_configs(
        "sensitivity", PRESETS["cpu-sensitivity-qk-umup-256"], "cpu", tmp_path, 1
    )
    assert {c.scheme for c in first} == {"sp-constant-lr", "mup"}
    assert {c.scheme for c in second} == {"u-mup"}
    assert {c.width for c in first + second} == {256} and len(first) + len(second) == len(qk) == 189
    assert all(c.qk_layernorm and c.z_loss == 1e-4 for c in first + second)
    assert _runs_at(first + second, 256) == _runs_at(qk, 256)


def test_partial_lr_curves_of_an_interrupted_sweep_are_left_out():
    """A scheme whose sweep stopped before the high LRs would read as insensitive: its curves
    are measured against the sweep's whole grid, not against what the scheme reached."""
    from experiments.lab.forecasts import _complete_curves, _incomplete

    group = ("scheme",)
    rows = [
        {"scheme": s, "seed": seed, "log2_lr": lr}
        for s, lrs in (("mup", (-8, -6, -4)), ("u-mup", (-8, -6)))
        for seed in (0, 1)
        for lr in lrs
    ]
    kept = _complete_curves(rows, group)
    assert {r["scheme"] for r in kept} == {"mup"} and len(kept) == 6
    (left,) = _incomplete(rows, kept, group)
    assert left == {"scheme": "u-mup", "runs": 4, "seeds": [0, 1], "grid_points": 3}


def test_warmup_preset_matches_the_plain_width_128_runs_but_for_the_warmup(tmp_path):
    """cpu-sensitivity-warmup is compared with cpu-sensitivity's plain width-128 runs, so every
    other setting that shapes training must be theirs."""
    from experiments.lab.forecasts import PRESETS, _phase_configs

    warm = _phase_configs("variants", PRESETS["cpu-sensitivity-warmup"], "cpu", tmp_path, 1)
    plain = [
        c
        for c in _phase_configs("sensitivity", PRESETS["cpu-sensitivity"], "cpu", tmp_path, 1)
        if c.width == 128
    ]
    assert len(warm) == len(plain) == 3 * 21 * 3
    assert {c.warmup for c in warm} == {250} and {c.warmup for c in plain} == {0}
    shape = ("scheme", "optimizer", "width", "log2_lr", "seed", "steps", "base_width", "batch")
    assert {tuple(getattr(c, k) for k in shape) for c in warm} == {
        tuple(getattr(c, k) for k in shape) for c in plain
    }


def test_warmup_256_presets_are_the_width_128_warmup_at_width_256(tmp_path):
    """cpu-sensitivity-warmup-256 (SP, μP) and cpu-sensitivity-warmup-umup-256 (u-μP) together
    are cpu-sensitivity-warmup's runs but for the width: same warmup, grid, seeds, length, base."""
    from experiments.lab.forecasts import PRESETS, _phase_configs

    warm = _phase_configs("variants", PRESETS["cpu-sensitivity-warmup"], "cpu", tmp_path, 1)
    first = _phase_configs("variants", PRESETS["cpu-sensitivity-warmup-256"], "cpu", tmp_path, 1)
    second = _phase_configs(
        "variants", PRESETS["cpu-sensitivity-warmup-umup-256"], "cpu", tmp_path, 1
    )
    assert {c.scheme for c in first} == {"sp-constant-lr", "mup"}
    assert {c.scheme for c in second} == {"u-mup"}
    assert {c.width for c in first + second} == {256} and len(first) + len(second) == 189
    assert {c.warmup for c in first + second} == {250}
    assert _runs_at(first + second, 256) == _runs_at(warm, 256)


def test_independent_decay_preset_matches_the_plain_width_128_runs_but_for_the_decay(tmp_path):
    """cpu-sensitivity-indep-128 is compared with cpu-sensitivity's plain width-128 runs: same
    shape, AdamW with the independent decay in place of Adam."""
    from experiments.lab.forecasts import INDEPENDENT_DECAY, PRESETS, _phase_configs

    indep = _phase_configs("variants", PRESETS["cpu-sensitivity-indep-128"], "cpu", tmp_path, 1)
    plain = [
        c
        for c in _phase_configs("sensitivity", PRESETS["cpu-sensitivity"], "cpu", tmp_path, 1)
        if c.width == 128
    ]
    assert len(indep) == len(plain) == 3 * 21 * 3
    assert {(c.optimizer, c.weight_decay) for c in indep} == {("adamw", INDEPENDENT_DECAY)}
    assert {(c.optimizer, c.weight_decay) for c in plain} == {("adam", 0.0)}
    shape = ("scheme", "width", "log2_lr", "seed", "steps", "base_width", "batch", "warmup")
    assert {tuple(getattr(c, k) for k in shape) for c in indep} == {
        tuple(getattr(c, k) for k in shape) for c in plain
    }


@pytest.mark.parametrize(
    "arm, narrow, convention",
    [
        ("indep", "cpu-sensitivity-indep-128", "independent"),
        ("coupled", "cpu-sensitivity-coupled", "coupled"),
    ],
)
def test_decay_256_presets_are_the_width_128_arm_at_width_256(tmp_path, arm, narrow, convention):
    """cpu-sensitivity-{indep,coupled}-{mup,sp,umup}-256 together are their arm's width-128 runs
    but for the width: AdamW with the same decay and convention, grid, seeds, length and base
    width."""
    from experiments.lab.forecasts import COUPLED_DECAY, INDEPENDENT_DECAY, PRESETS, _phase_configs

    decay = {"independent": INDEPENDENT_DECAY, "coupled": COUPLED_DECAY}[convention]
    at_128 = [
        c for c in _phase_configs("variants", PRESETS[narrow], "cpu", tmp_path, 1) if c.width == 128
    ]
    wide = {
        scheme: _phase_configs(
            "variants", PRESETS[f"cpu-sensitivity-{arm}-{scheme}-256"], "cpu", tmp_path, 1
        )
        for scheme in ("mup", "sp", "umup")
    }
    assert {name: {c.scheme for c in cs} for name, cs in wide.items()} == {
        "mup": {"mup"},
        "sp": {"sp-constant-lr"},
        "umup": {"u-mup"},
    }
    every = [c for cs in wide.values() for c in cs]
    assert {c.width for c in every} == {256} and len(every) == len(at_128) == 189
    assert {(c.optimizer, c.weight_decay, c.decay_convention) for c in every} == {
        ("adamw", decay, convention)
    }
    assert _runs_at(every, 256) == _runs_at(at_128, 256)


def test_umup_256_preset_is_the_plain_grid_for_u_mup_at_width_256(tmp_path):
    """cpu-sensitivity-umup-256 extends cpu-sensitivity's u-μP curves to width 256: the same
    grid, seeds, length and base width, one scheme; a scheme outside the experiment's is refused."""
    from dataclasses import replace

    from experiments.lab.forecasts import PRESETS, _phase_configs

    wide = _phase_configs("sensitivity", PRESETS["cpu-sensitivity-umup-256"], "cpu", tmp_path, 1)
    plain = [
        c
        for c in _phase_configs("sensitivity", PRESETS["cpu-sensitivity"], "cpu", tmp_path, 1)
        if c.width == 128 and c.scheme == "u-mup"
    ]
    assert len(wide) == len(plain) == 21 * 3
    assert {(c.scheme, c.width) for c in wide} == {("u-mup", 256)}
    shape = (
        "optimizer",
        "log2_lr",
        "seed",
        "steps",
        "base_width",
        "batch",
        "qk_layernorm",
        "z_loss",
    )
    assert {tuple(getattr(c, k) for k in shape) for c in wide} == {
        tuple(getattr(c, k) for k in shape) for c in plain
    }
    rest = _phase_configs("sensitivity", PRESETS["cpu-sensitivity-sp-mup-256"], "cpu", tmp_path, 1)
    assert {(c.scheme, c.width) for c in rest} == {("sp-constant-lr", 256), ("mup", 256)}
    assert {tuple(getattr(c, k) for k in shape) for c in rest} == {
        tuple(getattr(c, k) for k in shape) for c in plain
    }
    bad = replace(PRESETS["cpu-sensitivity"], sensitivity_schemes=("ntk",))
    with pytest.raises(ValueError, match="'ntk'.*accepted: sp-constant-lr, mup, u-mup"):
        _phase_configs("sensitivity", bad, "cpu", tmp_path, 1)


def _decayed(tmp_path, *presets: str) -> list:
    """The variants-phase runs with weight decay of the named presets."""
    from experiments.lab.forecasts import PRESETS, _phase_configs

    every = (c for n in presets for c in _phase_configs("variants", PRESETS[n], "cpu", tmp_path, 1))
    return [c for c in every if c.weight_decay]


def _alike_but(first: list, second: list, differ: tuple[str, ...]) -> bool:
    """Whether two sets of runs are the same runs but for the settings ``differ``."""
    from dataclasses import fields

    from abcparam.transfer.sweep import RunConfig

    keep = [f.name for f in fields(RunConfig) if f.name not in differ]
    return sorted(tuple(getattr(c, k) for k in keep) for c in first) == sorted(
        tuple(getattr(c, k) for k in keep) for c in second
    )


def test_coupled_decay_preset_is_the_independent_arm_with_torchs_coupled_decay(tmp_path):
    """cpu-sensitivity-coupled is compared with the independent arm at widths 64 and 128: the same
    runs but for AdamW's coupled decay, whose per-step decay lr * lambda equals the independent
    arm's at lr = 1e-2, the centre of the LR range; the analysis tells the two arms apart."""
    from experiments.lab.forecasts import (
        COUPLED_DECAY,
        INDEPENDENT_DECAY,
        LOG2_LR_RANGE,
        variant_of,
    )

    coupled = _decayed(tmp_path, "cpu-sensitivity-coupled")
    indep = _decayed(tmp_path, "cpu-sensitivity-variants-64", "cpu-sensitivity-indep-128")
    assert len(coupled) == len(indep) == 2 * 3 * 21 * 3
    assert {(c.weight_decay, c.decay_convention) for c in coupled} == {(COUPLED_DECAY, "coupled")}
    assert {(c.weight_decay, c.decay_convention) for c in indep} == {
        (INDEPENDENT_DECAY, "independent")
    }
    centre = 2 ** (sum(LOG2_LR_RANGE) / 2)
    assert centre * COUPLED_DECAY == pytest.approx(INDEPENDENT_DECAY, rel=0.06)
    assert _alike_but(coupled, indep, ("weight_decay", "decay_convention"))
    assert not _alike_but(coupled, indep[1:], ("weight_decay", "decay_convention"))
    assert variant_of(coupled[0].__dict__) == "coupled-decay"
    assert variant_of(indep[0].__dict__) == "independent-decay"


def test_wortsman_rate_preset_is_the_width_128_independent_arm_at_a_tenth_the_rate(tmp_path):
    """cpu-sensitivity-indep-1e-4-128 reruns the width-128 independent arm's μP and u-μP at
    Wortsman et al.'s own 1e-4 per step and nothing else; the analysis names each rate's runs
    apart, and a decay no recipe uses is "other", not silently one of them."""
    from experiments.lab.forecasts import INDEPENDENT_DECAY, WORTSMAN_DECAY, variant_of

    slow = _decayed(tmp_path, "cpu-sensitivity-indep-1e-4-128")
    fast = [
        c for c in _decayed(tmp_path, "cpu-sensitivity-indep-128") if c.scheme in ("mup", "u-mup")
    ]
    assert len(slow) == len(fast) == 2 * 21 * 3
    assert WORTSMAN_DECAY == pytest.approx(INDEPENDENT_DECAY / 10)
    assert {(c.weight_decay, c.decay_convention) for c in slow} == {(WORTSMAN_DECAY, "independent")}
    assert _alike_but(slow, fast, ("weight_decay",))
    assert variant_of(slow[0].__dict__) == "independent-decay-1e-4"
    assert variant_of(fast[0].__dict__) == "independent-decay"
    assert variant_of({**slow[0].__dict__, "weight_decay": 3e-4}) == "other"
    assert variant_of({**slow[0].__dict__, "decay_convention": "coupled"}) == "other"


def test_sp_at_wortsmans_rate_is_the_mup_pair_for_sp(tmp_path):
    """cpu-sensitivity-sp-1e-4-128 runs SP's two arms at 1e-4 per step: the μP / u-μP pair's runs
    with only the scheme changed, and SP's width-128 arms at the higher rate with only λ changed."""
    from experiments.lab.forecasts import variant_of

    sp = _decayed(tmp_path, "cpu-sensitivity-sp-1e-4-128")
    assert {c.scheme for c in sp} == {"sp-constant-lr"} and len(sp) == 2 * 21 * 3
    pair = _decayed(tmp_path, "cpu-sensitivity-indep-1e-4-128", "cpu-sensitivity-coupled-0.01-128")
    assert _alike_but(sp, [c for c in pair if c.scheme == "mup"], ("scheme",))
    before = _decayed(tmp_path, "cpu-sensitivity-indep-128", "cpu-sensitivity-coupled")
    before = [c for c in before if c.scheme == "sp-constant-lr" and c.width == 128]
    assert _alike_but(sp, before, ("weight_decay",))
    assert not _alike_but(sp, before, ())
    assert {variant_of(c.__dict__) for c in sp} == {"independent-decay-1e-4", "coupled-decay-0.01"}


def test_the_longer_decay_preset_is_the_width_64_pair_at_three_times_the_length(tmp_path):
    """cpu-sensitivity-mup-1e-4-64-3000: μP's two arms at 1e-4 per step, as the width-128 pair
    but at width 64 and 3,000 steps (nothing else changed)."""
    long = _decayed(tmp_path, "cpu-sensitivity-mup-1e-4-64-3000")
    assert {(c.scheme, c.width, c.steps) for c in long} == {("mup", 64, 3000)}
    pair = _decayed(tmp_path, "cpu-sensitivity-indep-1e-4-128", "cpu-sensitivity-coupled-0.01-128")
    pair = [c for c in pair if c.scheme == "mup"]
    assert len(long) == len(pair) == 2 * 21 * 3
    assert _alike_but(long, pair, ("width", "steps"))
    assert not _alike_but(long, pair, ("width",))


def test_coupled_match_at_wortsmans_rate_decays_as_the_independent_arm_at_the_lr_range_centre(
    tmp_path,
):
    """cpu-sensitivity-coupled-0.01-128 is cpu-sensitivity-indep-1e-4-128 with torch AdamW's
    coupled decay, whose lr * lambda equals 1e-4 per step at lr = 1e-2, as the 1e-3 pair does."""
    from experiments.lab.forecasts import (
        LOG2_LR_RANGE,
        WORTSMAN_COUPLED_DECAY,
        WORTSMAN_DECAY,
        variant_of,
    )

    coupled = _decayed(tmp_path, "cpu-sensitivity-coupled-0.01-128")
    indep = _decayed(tmp_path, "cpu-sensitivity-indep-1e-4-128")
    assert {(c.weight_decay, c.decay_convention) for c in coupled} == {
        (WORTSMAN_COUPLED_DECAY, "coupled")
    }
    centre = 2 ** (sum(LOG2_LR_RANGE) / 2)
    assert centre * WORTSMAN_COUPLED_DECAY == pytest.approx(WORTSMAN_DECAY, rel=0.06)
    assert _alike_but(coupled, indep, ("weight_decay", "decay_convention"))
    assert {variant_of(c.__dict__) for c in coupled} == {"coupled-decay-0.01"}


def test_a_recipe_is_set_beside_the_plain_recipe_at_the_same_widths_only():
    """The book's "recipe at width 256" tables: recipe and plain recipe per width from the
    committed runs, the gap at the widest width, one table row per scheme; a recipe measured at
    fewer widths than the plain recipe is refused, naming both width lists."""
    from experiments.lab.forecasts import recipe_against_plain, recipe_table
    from experiments.lab.paths import saved_results

    warm = [
        saved_results("forecasts", n) / "variants"
        for n in (
            "cpu-sensitivity-variants-64",
            "cpu-sensitivity-warmup",
            "cpu-sensitivity-warmup-256",
        )
    ]
    plain = [
        saved_results("forecasts", n) / "sensitivity"
        for n in ("cpu-sensitivity", "cpu-sensitivity-sp-mup-256")
    ]
    both = [recipe_against_plain(warm, "warmup", plain, s) for s in ("sp-constant-lr", "mup")]
    for c in both:
        assert c["widths"] == [64, 128, 256]
        assert c["recipe"][256]["mean"] != c["plain"][256]["mean"]
        assert c["gap_at_widest"] == pytest.approx(
            c["recipe"][256]["mean"] - c["plain"][256]["mean"]
        )
        assert c["recipe_slope"]["low"] <= c["recipe_slope"]["slope"] <= c["recipe_slope"]["high"]
    head, rule, *rows = recipe_table(both, "warmup").splitlines()
    assert [r.split(" | ")[0] for r in rows] == ["| sp-constant-lr", "| mup"]
    assert {r.count("|") for r in rows} == {head.count("|"), rule.count("|")} == {8}
    with pytest.raises(ValueError, match=r"widths \[64, 128\].*\[64, 128, 256\]"):
        recipe_against_plain(warm[:2], "warmup", plain, "mup")
