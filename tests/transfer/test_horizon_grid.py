"""The warmup-stable-decay grid: schedule, decay branches that leave the stable run untouched,
the slope analysis on planted optima, the experiment's quick version end to end."""

import json
import math

import numpy as np
import pytest

from abcparam.transfer import data
from abcparam.transfer.horizon import HorizonRun, decay_start, lr_factor, train_wsd
from abcparam.transfer.horizon_fit import (
    late_training_check,
    markdown,
    slope_with_interval,
    summarise,
    width_steps,
)

TINY = {"width": 16, "batch": 2, "log2_lr": -7.0, "seed": 0, "warmup": 2, "base_width": 16}


def test_schedule_warmup_stable_and_linear_decay_to_zero():
    assert lr_factor(0, 4) == pytest.approx(0.25)
    assert lr_factor(10, 4) == 1.0
    start = decay_start(100, 0.1)
    assert start == 90
    assert lr_factor(89, 4, 100) == 1.0
    assert lr_factor(90, 4, 100) == pytest.approx(10 / 11)  # 10 decay steps on a line to 0
    assert lr_factor(99, 4, 100) == pytest.approx(1 / 11)  # ... that reaches 0 at step 100
    steps = [lr_factor(s, 4, 100) for s in range(90, 100)]
    assert all(a > b for a, b in zip(steps, steps[1:]))


def test_bad_run_config():
    with pytest.raises(ValueError, match="warmup"):
        HorizonRun(**{**TINY, "warmup": 50}, horizons=(20, 40))
    with pytest.raises(ValueError, match="horizons"):
        HorizonRun(**TINY, horizons=())
    with pytest.raises(ValueError, match="train_chars = 8"):
        HorizonRun(**TINY, train_chars=8)
    with pytest.raises(ValueError, match="unknown corpus 'PyDoc'; accepted: pydoc, stdlib"):
        HorizonRun(**TINY, corpus="PyDoc")


def test_the_corpus_names_a_run_and_its_text():
    """The default corpus keeps earlier runs' keys; ``stdlib`` is another run, trained on that
    text (its fingerprint saved, its larger vocabulary in the chance loss)."""
    whole = HorizonRun(**TINY, horizons=(6,), val_windows=4)
    assert HorizonRun(**TINY, horizons=(6,), val_windows=4, corpus="pydoc").key == whole.key
    std = HorizonRun(**TINY, horizons=(6,), val_windows=4, corpus="stdlib")
    assert std.key != whole.key
    rows = [train_wsd(cfg) for cfg in (whole, std)]
    assert [r["text"] for r in rows] == [data.text_fingerprint(c) for c in ("pydoc", "stdlib")]
    assert rows[1]["corpus"] == "stdlib"
    assert rows[1]["chance_loss"] > rows[0]["chance_loss"]


def test_a_cut_text_is_its_own_run_and_overfits_sooner():
    """``train_chars`` keeps the default's key (earlier runs still resume), names a new run
    otherwise, and a text cut to 200 characters is fitted better than the whole text in the same
    steps: the runs really train on the cut text."""
    whole = HorizonRun(**TINY, horizons=(30,), val_windows=8)
    cut = HorizonRun(**TINY, horizons=(30,), val_windows=8, train_chars=200)
    assert HorizonRun(**TINY, horizons=(30,), val_windows=8, train_chars=0).key == whole.key
    assert cut.key != whole.key
    curves = [train_wsd(cfg)["stable_curve"] for cfg in (whole, cut)]
    assert curves[1][-1][1] < curves[0][-1][1]
    with pytest.raises(ValueError, match="at most the training text"):
        train_wsd(HorizonRun(**TINY, horizons=(4,), train_chars=10**9))


def test_independent_decay_at_eta_lambda_is_the_coupled_run():
    """Away from the base width (32 over 16), the independent convention at λ·η trains the same
    model as the coupled one at λ, loss for loss through warmup and both decay branches (so a
    decay sweep in one convention is the other's, relabelled); doubling it changes the loss."""
    run = {**TINY, "width": 32, "log2_lr": -6.0, "horizons": (20, 40), "val_windows": 8}
    lam = 0.5

    def losses(**kw) -> list[float]:
        return [r["val_loss"] for r in train_wsd(HorizonRun(**run, **kw))["results"].values()]

    coupled = losses(weight_decay=lam)
    assert losses(weight_decay=lam * 2**-6, convention="independent") == coupled
    assert losses(weight_decay=lam * 2**-5, convention="independent") != coupled


def test_branches_leave_the_stable_run_unchanged():
    """The longest horizon's loss is the same with or without shorter branches taken from it."""
    alone = train_wsd(HorizonRun(**TINY, horizons=(12,), val_windows=8))
    branched = train_wsd(HorizonRun(**TINY, horizons=(4, 8, 12), val_windows=8))
    assert branched["results"]["12"]["val_loss"] == pytest.approx(
        alone["results"]["12"]["val_loss"]
    )
    assert set(branched["results"]) == {"4", "8", "12"}
    assert all(math.isfinite(r["val_loss"]) for r in branched["results"].values())
    json.dumps(branched)  # serialisable as a raw run


def test_relative_updates_recorded_for_late_training_check():
    row = train_wsd(
        HorizonRun(**TINY, horizons=(20,), val_windows=16, curve_every=5, record_updates=True)
    )
    updates = np.array(row["relative_updates"])
    assert updates.shape == (4, 1 + len(row["hidden_layers"]))
    assert np.all(updates[:, 1:] > 0) and np.all(updates[:, 1:] < 1)
    rows = late_training_check(row)
    assert {r["layer"] for r in rows} == set(row["hidden_layers"])
    for r in rows:
        assert r["predicted"] == pytest.approx(math.sqrt(2 * r["per_step_decay"]))


def test_decay_dominated_update_is_the_per_step_decay():
    """With a negligible learning rate and independent decay λ, W ← W(1 − λ): the recorded
    relative update is λ itself, in every hidden layer (the recorder measures what it says)."""
    cfg = {**TINY, "log2_lr": -30.0, "weight_decay": 0.05, "convention": "independent"}
    row = train_wsd(
        HorizonRun(**cfg, horizons=(10,), val_windows=8, curve_every=5, record_updates=True)
    )
    assert all(d == pytest.approx(0.05) for d in row["per_step_decay"].values())
    updates = np.array(row["relative_updates"])
    stable = updates[updates[:, 0] <= decay_start(10, 0.1), 1:]
    assert len(stable) and np.allclose(stable, 0.05, rtol=1e-4)
    # on the decay branch torch scales the decay with the LR schedule (λ/lr_peak · lr_t)
    assert np.all(updates[updates[:, 0] > decay_start(10, 0.1), 1:] < 0.05)


def _planted(
    slope_t: float, slope_b: float, noise: float = 0.02, slope_w: float = 0.0, widths=(32, 64)
) -> list[dict]:
    """Rows whose loss is a parabola in log2 lr around a planted optimum."""
    rng = np.random.default_rng(0)
    rows = []
    for width in widths:
        for batch in (4, 8, 16):
            for seed in range(3):
                for lr in np.arange(-10, -3.9, 0.5):
                    results = {}
                    for t in (100, 200, 400):
                        best = -7 + slope_t * math.log2(t / 100) + slope_b * math.log2(batch / 4)
                        best += slope_w * math.log2(width / 32)
                        best += rng.normal(0, noise)
                        loss = 2 + 0.1 * (lr - best) ** 2
                        results[str(t)] = {"val_loss": loss, "diverged": False}
                    rows.append(
                        {
                            "width": width,
                            "batch": batch,
                            "seed": seed,
                            "log2_lr": float(lr),
                            "results": results,
                        }
                    )
    return rows


def test_analysis_recovers_planted_slopes():
    summary = summarise(_planted(-0.5, 0.5), bootstrap=200)
    for w in (32, 64):
        pooled = summary["per_width"][w]["pooled"]
        assert pooled["in_horizon"]["slope"] == pytest.approx(-0.5, abs=0.05)
        assert pooled["in_batch"]["slope"] == pytest.approx(0.5, abs=0.05)
        assert pooled["in_horizon"]["low"] <= -0.5 <= pooled["in_horizon"]["high"] + 0.05
        # along fixed tokens T·B: η* ∝ B^0.5 · T^-0.5 = B^(0.5 + 0.5)
        assert pooled["in_batch_fixed_tokens"]["slope"] == pytest.approx(1.0, abs=0.05)
    assert summary["across_widths"]["in_horizon"]["overlap"]
    assert "d log2 η*/d log2 T" in markdown(summary)


@pytest.mark.parametrize("slope_w", [0.0, -0.5])
def test_analysis_recovers_a_planted_width_drift(slope_w):
    """η*'s slope in log2 width per (batch, horizon), and pooled: μP's transfer plants 0."""
    summary = summarise(_planted(-0.5, 0.5, slope_w=slope_w, widths=(32, 64, 128)), bootstrap=200)
    for batch in (4, 8, 16):
        fits = summary["in_width"][batch]
        assert set(fits["per_horizon"]) == {100, 200, 400}
        assert fits["pooled"]["slope"] == pytest.approx(slope_w, abs=0.05)
        assert all(f["cells"] == 3 for f in fits["per_horizon"].values())


def test_edge_optimum_is_left_out():
    rows = [r for r in _planted(0.0, 0.0) if r["log2_lr"] >= -7]
    summary = summarise(rows, bootstrap=50)
    assert summary["edges"] and all(e[-1] == "low" for e in summary["edges"])


def test_slope_interval_needs_two_cells():
    assert slope_with_interval([(1, {0: -7.0})]) is None


def test_quick_experiment_end_to_end(tmp_path):
    from abcparam.records import load_json
    from experiments.lab.horizon_grid import main

    assert main(["--quick", "--out", str(tmp_path), "--workers", "1"]) == 0
    runs = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert len(runs) == 2 * 2 * 3 * 2
    assert all(set(r["results"]) == {"8", "16"} for r in runs)
    summary = load_json(tmp_path / "summary.json")
    assert summary["provenance"]["git_commit"] and summary["horizons"] == [8, 16]
    config = load_json(tmp_path / "config.json")
    assert config["runs"] == len(runs)


def test_first_seed_runs_only_the_seeds_after_it(tmp_path):
    """--first-seed adds seeds beside a grid already run: seeds 1..2 here, none of seed 0."""
    from experiments.lab.horizon_grid import main

    args = ["--quick", "--widths", "16", "--batches", "2", "--lrs=-6:-5:1", "--workers", "1"]
    assert main([*args, "--seeds", "2", "--first-seed", "1", "--out", str(tmp_path)]) == 0
    runs = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert sorted({r["seed"] for r in runs}) == [1, 2] and len(runs) == 2 * 2
    with pytest.raises(SystemExit, match="--first-seed -1"):
        main([*args, "--first-seed", "-1", "--out", str(tmp_path / "bad")])
    with pytest.raises(SystemExit, match="only 0 with --late"):
        main(["--late", "--quick", "--first-seed", "1", "--out", str(tmp_path / "late")])


def test_the_grid_trains_on_the_corpus_it_is_given(tmp_path):
    """--corpus stdlib: every row trained on the standard library's source, its name in the
    config; an unknown corpus is refused before any run."""
    from experiments.lab.horizon_grid import main

    args = ["--quick", "--widths", "16", "--batches", "2", "--lrs=-6:-6:1", "--seeds", "1"]
    assert main([*args, "--workers", "1", "--corpus", "stdlib", "--out", str(tmp_path)]) == 0
    runs = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert runs and {r["text"] for r in runs} == {data.text_fingerprint("stdlib")}
    assert json.loads((tmp_path / "config.json").read_text())["corpus"] == "stdlib"
    with pytest.raises(SystemExit):
        main([*args, "--corpus", "wiki", "--out", str(tmp_path / "bad")])


def test_late_training_check_quick(tmp_path):
    """The late-training check's pipeline at tiny size: both conventions, judged per layer."""
    from abcparam.records import load_json
    from experiments.lab.horizon_grid import main

    assert main(["--late", "--quick", "--out", str(tmp_path), "--workers", "1"]) == 0
    checks = load_json(tmp_path / "summary.json")["checks"]
    assert {(c["convention"], c["width"]) for c in checks} == {
        (conv, w) for conv in ("coupled", "independent") for w in (16, 32)
    }
    for check in checks:
        for layer in check["layers"]:
            assert layer["measured"] > 0 and layer["predicted"] > 0
    slopes = load_json(tmp_path / "summary.json")["width_slopes"]
    assert {s["convention"] for s in slopes} == {"coupled", "independent"}
    assert all(not s["judged"] and s["passed"] is None for s in slopes)  # 2 widths: not judged
    config = load_json(tmp_path / "config.json")  # the grid that ran, not only the preset's plan
    assert config["widths"] == [16, 32] and config["runs"] == len(checks)


def test_gpu_grid_is_the_same_pipeline():
    """The GPU preset builds valid runs (widths 256..2048, horizons to 20k) without training."""
    from abcparam.transfer.horizon import grid
    from experiments.lab.horizon_grid import GPU, _ints, lr_grid

    configs = grid(
        _ints(GPU["widths"]),
        _ints(GPU["batches"]),
        lr_grid(GPU["lrs"]),
        GPU["seeds"],
        horizons=tuple(_ints(GPU["horizons"])),
        warmup=GPU["warmup"],
        base_width=256,
        device="cuda",
    )
    assert max(c.width for c in configs) == 2048 and max(configs[0].horizons) == 20000
    assert len({c.key for c in configs}) == len(configs)


def test_late_check_judges_the_stable_phase_only():
    """Records on the decay branch (smaller steps) are left out of the equilibrium comparison."""
    steps = list(range(10, 101, 10))
    row = {
        "horizons": [100],
        "decay_fraction": 0.1,
        "hidden_layers": ["h"],
        "per_step_decay": {"h": 8e-4},
        "relative_updates": [[s, 0.04 if s <= 90 else 0.001] for s in steps],
    }
    (check,) = late_training_check(row)
    assert check["measured"] == pytest.approx(0.04)
    assert check["ratio"] == pytest.approx(0.04 / math.sqrt(1.6e-3))


def _late_checks(exponent: float, widths=(32, 64, 128), seeds=(0, 1, 2)) -> list[dict]:
    """Synthetic late checks: the update scales as width**exponent, the equilibrium is flat."""
    return [
        {
            "convention": "coupled",
            "width": w,
            "seed": s,
            "layers": [{"layer": "h", "measured": 0.01 * (1 + 0.01 * s) * w**exponent,
                        "predicted": 0.04}],
        }
        for w in widths
        for s in seeds
    ]  # fmt: skip


@pytest.mark.parametrize("exponent, passed", [(0.0, True), (0.1, True), (-0.5, False)])
def test_late_width_slope_is_judged_by_the_checks_rule(exponent, passed):
    """The late update's width exponent against the equilibrium's (0 here): the one rule."""
    from abcparam.transfer.horizon_fit import late_width_slopes

    (fit,) = late_width_slopes(_late_checks(exponent))
    assert fit["measured"] == pytest.approx(exponent, abs=1e-9)
    assert fit["predicted"] == pytest.approx(0.0, abs=1e-12)
    assert fit["judged"] and fit["passed"] is passed and fit["unresolved"] is False
    (two,) = late_width_slopes(_late_checks(exponent, widths=(32, 64)))
    assert not two["judged"] and two["passed"] is None


def test_gpu_width_preset_continues_the_cpu_width_series():
    """The GPU width slice differs from the CPU batch-8 runs at widths 128/256 only in its widths
    and in stopping at 2,000 steps: same LR window, warmup, seeds and μP base width 64, so the
    width series 64..2048 is one grid."""
    from experiments.lab.horizon_grid import GPU_WIDTH, LONG_4000, _ints

    assert _ints(GPU_WIDTH["widths"]) == [512, 1024, 2048] and GPU_WIDTH["batches"] == "8"
    assert GPU_WIDTH["lr_windows"]["8"] == LONG_4000["lr_windows"]["8"] == "-9:-6:0.5"
    assert GPU_WIDTH["base_width"] == 64
    assert set(_ints(GPU_WIDTH["horizons"])) < set(_ints(LONG_4000["horizons"]))
    for key in ("warmup", "seeds"):
        assert GPU_WIDTH[key] == LONG_4000[key]


def test_the_optimum_table_tells_an_edge_from_a_cell_that_never_ran():
    """A cell whose seeds all sit on the window's edge reads "edge"; a horizon one batch never
    ran (a grid cut to shorter horizons) reads "—"."""
    rows = _planted(-0.5, 0.5)
    for r in rows:
        if r["batch"] == 16:  # batch 16 ran to T = 200 only
            del r["results"]["400"]
        if r["batch"] == 4:  # batch 4 at T = 100: the window's lowest LR is best for every seed
            lr = r["log2_lr"]
            r["results"]["100"]["val_loss"] = 2 + 0.1 * (lr + 10) ** 2
    optima = markdown(summarise(rows, bootstrap=50)).split("\n\n")[0].splitlines()
    row = {int(line.split("|")[2]): line for line in optima[2:] if line.startswith("| 32 |")}
    assert row[4].split("|")[3].strip() == "edge"
    assert row[16].split("|")[5].strip() == "—"
    assert row[8].count("±") == 3


def test_width_steps_locate_a_drift_in_the_narrowest_step():
    """Planted optima: every cell drops 0.5 from width 64 to 128 and stays from 128 to 256 (seed
    noise of ±0.1 around it); a cell missing a width is left out, and bad input is refused."""
    rng = np.random.default_rng(0)
    best = {}
    for b in (8, 16):
        for t in (250, 500):
            base = -6.0 - 0.3 * np.log2(t / 250)
            for w, shift in ((64, 0.0), (128, -0.5), (256, -0.5)):
                best[(w, b, t)] = {s: base + shift + rng.uniform(-0.1, 0.1) for s in range(3)}
    best[(64, 32, 250)] = {0: -5.0}  # ran at one width only: not a cell of the split
    split = width_steps(best, [256, 64, 128], bootstrap=300)
    assert split["cells"] == 4
    first, second = split["steps"]
    assert (first["from"], first["to"], second["from"], second["to"]) == (64, 128, 128, 256)
    assert first["mean"] == pytest.approx(-0.5, abs=0.1) and first["high"] < -0.3
    assert second["mean"] == pytest.approx(0.0, abs=0.1) and second["low"] < 0 < second["high"]
    with pytest.raises(ValueError, match="three or more"):
        width_steps(best, [64, 128])
    with pytest.raises(ValueError, match="no .batch, horizon. cell"):
        width_steps(best, [64, 128, 512])
