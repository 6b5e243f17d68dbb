"""The weight-decay timescale sweep: the λ* / τ_epoch fit on runs with a known optimum, the
calculator's prediction, and the experiment end to end at tiny size."""

from __future__ import annotations

import json
import math

import pytest

from abcparam.transfer import data
from abcparam.transfer.timescale_fit import decay_optima, timescale_markdown, timescale_summary


def _sweep(loss_of, log2_wds, horizons, seeds: int = 3) -> list[dict]:
    """Decay-sweep runs (batches 4 and 16 at log2 η −7 and −6) whose validation loss at each
    horizon is ``loss_of(log2 η, batch, horizon, seed, log2 λ)``."""
    rows = []
    for batch, log2_lr in ((4, -7.0), (16, -6.0)):
        for seed in range(seeds):
            for log2_wd in log2_wds:
                results = {
                    str(t): {
                        "val_loss": loss_of(log2_lr, batch, t, seed, log2_wd),
                        "diverged": False,
                    }
                    for t in horizons
                }
                rows.append(
                    {
                        "batch": batch,
                        "log2_lr": log2_lr,
                        "seed": seed,
                        "weight_decay": 2.0**log2_wd,
                        "results": results,
                    }
                )
    return rows


def _rows(tau_log2: float, noise: float = 0.0) -> list[dict]:
    """Runs whose loss is a parabola in log2 λ with its vertex where τ_epoch = 2^tau_log2."""

    def loss(log2_lr, batch, t, seed, log2_wd):
        best = -log2_lr - math.log2(t) - tau_log2 + noise * (seed - 1)
        return 2 + (log2_wd - best) ** 2

    return _sweep(loss, range(-4, 5), (125, 500))


def test_constant_timescale_is_recovered():
    summary = timescale_summary(_rows(tau_log2=-1.5, noise=0.1), bootstrap=200)
    assert len(summary["cells"]) == 4
    for cell in summary["cells"]:
        assert cell["log2_tau_epoch"] == pytest.approx(-1.5, abs=1e-6)
    assert summary["slopes"]["tau_vs_horizon"]["slope"] == pytest.approx(0, abs=1e-6)
    assert summary["slopes"]["wd_vs_horizon"]["slope"] == pytest.approx(-1, abs=1e-6)
    low, high = summary["cells"][0]["log2_wd_interval"]
    assert low < summary["cells"][0]["log2_wd"] < high


def test_prediction_is_compared_with_the_interval():
    from experiments.lab.weight_decay_timescale import calculator_ratio

    summary = timescale_summary(_rows(-1.5, noise=0.2), predict=calculator_ratio, bootstrap=200)
    assert all(c["predicted_inside"] for c in summary["cells"])
    wrong = timescale_summary(_rows(-1.5, noise=0.2), predict=lambda b, t: 8.0, bootstrap=200)
    assert not any(c["predicted_inside"] for c in wrong["cells"][1:])


def test_calculator_ratio_is_the_timescale_rule():
    from experiments.lab.weight_decay_timescale import calculator_ratio

    base = {"batch": 4, "horizon": 125, "log2_lr": -7.0}
    assert calculator_ratio(base, {"batch": 16, "horizon": 500, "log2_lr": -6.0}) == pytest.approx(
        1 / 8
    )
    with pytest.raises(ValueError, match="LR ratio"):
        calculator_ratio(base, {"batch": 16, "horizon": 500, "log2_lr": -7.0})
    # data-limited: D fixed, so the horizon drops out and λ ∝ B/η = √B along the SDE rule
    fixed = {"samples": 1000.0}
    assert calculator_ratio(
        {**base, **fixed}, {"batch": 16, "horizon": 500, "log2_lr": -6.0, **fixed}
    ) == pytest.approx(2.0)


def test_edges_are_left_out():
    rows = [r for r in _rows(-1.5) if r["weight_decay"] <= 2.0**-2]
    best, _, edges = decay_optima(rows)
    assert edges and all(e[3] in ("low", "high") for e in edges)
    assert all(len(v) < 3 for v in best.values()) or not best


def test_quick_sweep_end_to_end(tmp_path):
    from experiments.lab.weight_decay_timescale import main

    assert main(["--quick", "--workers", "1", "--out", str(tmp_path), "--seeds", "1"]) == 0
    lines = (tmp_path / "runs.jsonl").read_text().splitlines()
    assert len(lines) == 6
    assert {json.loads(x)["weight_decay"] for x in lines} == {0.25, 1.0, 4.0}
    assert (tmp_path / "summary.md").read_text().startswith("| batch")


def test_quick_sweep_on_the_stdlib_corpus(tmp_path):
    """``--corpus stdlib`` trains every run on the standard library's source (its fingerprint in
    each row, its name in the config) and names them apart from the pydoc runs."""
    from experiments.lab.weight_decay_timescale import main

    argv = ["--quick", "--workers", "1", "--seeds", "1", "--log2-wds=0:0:1", "--horizons", "8"]
    assert main([*argv, "--out", str(tmp_path / "std"), "--corpus", "stdlib"]) == 0
    assert main([*argv, "--out", str(tmp_path / "doc")]) == 0
    rows = {
        name: [json.loads(x) for x in (tmp_path / name / "runs.jsonl").read_text().splitlines()]
        for name in ("std", "doc")
    }
    assert {r["text"] for r in rows["std"]} == {data.text_fingerprint("stdlib")}
    assert {r["text"] for r in rows["doc"]} == {data.text_fingerprint("pydoc")}
    assert not {r["key"] for r in rows["std"]} & {r["key"] for r in rows["doc"]}
    assert [r["results"] for r in rows["std"]] != [r["results"] for r in rows["doc"]]
    config = json.loads((tmp_path / "std" / "config.json").read_text())
    assert config["sizes"]["corpus"] == "stdlib"


def test_gpu_preset_builds_valid_runs_at_the_calculators_lrs():
    """The GPU preset's runs are valid (warmup before every decay) and its LRs are the SDE rule's,
    so the calculator's prediction applies; nothing is trained."""
    from abcparam.transfer.horizon import HorizonRun
    from experiments.lab.horizon_grid import _ints, lr_grid
    from experiments.lab.weight_decay_timescale import GPU, calculator_ratio

    batches, lrs = _ints(GPU["batches"]), [float(x) for x in GPU["log2_lrs"].split(",")]
    horizons = tuple(_ints(GPU["horizons"]))
    runs = [
        HorizonRun(
            GPU["width"],
            b,
            lr,
            0,
            horizons=horizons,
            warmup=GPU["warmup"],
            weight_decay=2.0**wd,
            base_width=GPU["base_width"],
            device="cuda",
        )
        for b, lr in zip(batches, lrs, strict=True)
        for wd in lr_grid(GPU["log2_wds"])
    ]
    assert len({r.key for r in runs}) == len(runs)
    base = {"batch": batches[0], "horizon": horizons[0], "log2_lr": lrs[0]}
    target = {"batch": batches[1], "horizon": horizons[-1], "log2_lr": lrs[1]}
    ratio = calculator_ratio(base, target)
    assert ratio == pytest.approx(batches[0] / batches[1] * horizons[0] / horizons[-1] * 4 / 2)


def _hinge_rows(onset_of, seeds: int = 3) -> list[dict]:
    """Runs whose loss is flat in log2 λ up to ``onset_of(batch, horizon, seed)``, then rises
    0.1 nats per octave: decay never helps, it only starts to cost loss somewhere."""

    def loss(log2_lr, batch, t, seed, log2_wd):
        return 1.5 + 0.01 * seed + 0.1 * max(0.0, log2_wd - onset_of(batch, t, seed))

    return _sweep(loss, range(-8, 1), (500, 1000, 2000, 4000), seeds)


def test_damage_onset_is_where_the_loss_leaves_its_floor():
    from abcparam.transfer.timescale_fit import damage_onset

    flat_then_up = [(x, 1.0 + 0.1 * max(0.0, x + 4)) for x in range(-8, 1)]
    # 0.02 above the floor: a fifth of the first octave past the knee at -4
    assert damage_onset(flat_then_up, 0.02) == pytest.approx(-3.8)
    assert damage_onset([(x, 1.0) for x in range(-8, 1)], 0.02) is None  # never costs loss
    falling = [(x, 1.0 - 0.05 * x) for x in range(-8, 1)]  # the floor is not flat
    assert damage_onset(falling, 0.02) is None
    diverged = [(x, 1.0 if x < -2 else math.inf) for x in range(-8, 1)]
    assert damage_onset(diverged, 0.02) == -2


@pytest.mark.parametrize(("t_slope", "b_slope"), [(-1.0, 0.0), (0.0, 0.5), (-1.0, -0.5)])
def test_damage_onset_slopes_are_recovered(t_slope, b_slope):
    """A knee moving t_slope per doubling of T and b_slope per doubling of B is read back (knees
    on whole octaves plus a per-seed offset: the interpolation's error is then the same in
    every cell, and a slope exact)."""
    from abcparam.transfer.timescale_fit import damage_onsets

    def knee(batch: int, t: int, seed: int) -> float:
        return -1.5 + t_slope * math.log2(t / 500) + b_slope * math.log2(batch / 4) + 0.1 * seed

    out = damage_onsets(_hinge_rows(knee), rise=0.02, bootstrap=200)
    assert len(out["cells"]) == 8 and all(c["seeds"] == 3 for c in out["cells"])
    assert out["slope_vs_horizon"]["slope"] == pytest.approx(t_slope, abs=1e-6)
    assert out["slope_vs_batch"]["slope"] == pytest.approx(b_slope, abs=1e-6)
    low, high = out["slope_vs_horizon"]["low"], out["slope_vs_horizon"]["high"]
    assert low <= t_slope + 1e-9 and t_slope - 1e-9 <= high


def test_data_limited_runs_use_the_cut_texts_size():
    """With the text cut to D sequences, τ_epoch = B/(ηλD) whatever the horizon: a planted λ*
    that is the same at every T gives a flat τ* in T and τ* on the plant, and the calculator
    (D kept) predicts every cell; the one-pass reading (D = T·B) would not."""
    d = 500.0  # 16,000 characters in windows of 32

    def loss(log2_lr, batch, t, seed, log2_wd):
        best = math.log2(batch) - log2_lr - math.log2(d) - 3.0 + 0.1 * (seed - 1)
        return 2 + (log2_wd - best) ** 2

    rows = _sweep(loss, range(-4, 9), (500, 2000))
    for row in rows:
        row["train_chars"], row["context"] = 16_000, 32
    from experiments.lab.weight_decay_timescale import calculator_ratio

    summary = timescale_summary(rows, predict=calculator_ratio, bootstrap=200)
    assert len(summary["cells"]) == 4
    for cell in summary["cells"]:
        assert cell["samples"] == d
        assert cell["epochs"] == pytest.approx(cell["horizon"] * cell["batch"] / d)
        assert cell["log2_tau_epoch"] == pytest.approx(3.0, abs=1e-6)
        assert cell["predicted_inside"] is True
    assert summary["slopes"]["tau_vs_horizon"]["slope"] == pytest.approx(0, abs=1e-6)
    assert summary["slopes"]["wd_vs_batch"]["slope"] == pytest.approx(0.5, abs=1e-6)
    for row in rows:
        del row["train_chars"]
    one_pass = timescale_summary(rows, bootstrap=200)
    assert one_pass["slopes"]["tau_vs_horizon"]["slope"] == pytest.approx(-1, abs=1e-6)


def _text_sweep(chars: int, held: float) -> list[dict]:
    """A planted decay sweep on a text of ``chars`` characters whose λ* is B/(η·held)·4, one
    seed's optimum a tenth of an octave off the next: held = D (windows) keeps τ_epoch fixed."""

    def loss(log2_lr, batch, t, seed, log2_wd):
        best = math.log2(batch) - log2_lr - math.log2(held) + 2.0 + 0.1 * (seed - 1)
        return 2 + (log2_wd - best) ** 2

    rows = _sweep(loss, range(-6, 6), (500, 1000, 2000))
    for row in rows:
        row["train_chars"], row["context"] = chars, 32
    return rows


def test_optimum_shift_across_text_sizes():
    """Two planted sweeps whose λ* halves when the text doubles (τ_epoch fixed): λ moves −1,
    τ_epoch 0; a pair with no interior optimum is refused by name."""
    from abcparam.transfer.timescale_fit import optimum_shift

    def sweep(chars: int) -> list[dict]:
        return _text_sweep(chars, held=chars / 32)

    pairs = [((16, 500), (16, 1000)), ((16, 1000), (16, 2000))]
    out = optimum_shift(sweep(16_000), sweep(32_000), pairs, bootstrap=200)
    assert out["wd_shift"]["value"] == pytest.approx(-1.0, abs=1e-6)
    assert out["tau_shift"]["value"] == pytest.approx(0.0, abs=1e-6)
    assert out["wd_shift"]["low"] <= -1.0 <= out["wd_shift"]["high"]
    with pytest.raises(ValueError, match=r"\(16, 4000\)"):
        optimum_shift(sweep(16_000), sweep(32_000), [((16, 500), (16, 4000))])


def test_pooled_optimum_shift_averages_every_couples_pairs():
    """Pooled over two planted couples, one holding τ_epoch (λ moves −1) and one holding λ
    (λ moves 0), λ* moves −½ and τ_epoch* −½; one couple alone is optimum_shift itself."""
    from abcparam.transfer.timescale_fit import optimum_shift, pooled_optimum_shift

    def sweep(chars: int, follows_text: bool) -> list[dict]:
        return _text_sweep(chars, held=chars / 32 if follows_text else 500.0)

    pairs = [((16, 500), (16, 1000)), ((16, 1000), (16, 2000))]
    held_tau = (sweep(16_000, True), sweep(32_000, True), pairs)
    held_wd = (sweep(16_000, False), sweep(32_000, False), pairs)
    pooled = pooled_optimum_shift([held_tau, held_wd], bootstrap=200)
    assert pooled["wd_shift"]["value"] == pytest.approx(-0.5, abs=1e-6)
    assert pooled["tau_shift"]["value"] == pytest.approx(-0.5, abs=1e-6)
    assert len(pooled["pairs"]) == 4
    alone = pooled_optimum_shift([held_wd], bootstrap=200)
    assert alone == optimum_shift(*held_wd, bootstrap=200)
    assert alone["wd_shift"]["value"] == pytest.approx(0.0, abs=1e-6)
    assert alone["tau_shift"]["value"] == pytest.approx(-1.0, abs=1e-6)


def test_prediction_base_is_chosen_by_cell_and_gain_is_reported():
    """A chosen base cell anchors the prediction (an unknown one is refused, naming the cells);
    each cell reports how much decay helps over the grid's smallest λ."""
    from experiments.lab.weight_decay_timescale import calculator_ratio

    rows = _rows(-1.5)
    summary = timescale_summary(rows, predict=calculator_ratio, bootstrap=50, base=(16, 500))
    assert summary["prediction_base"] == {"batch": 16, "horizon": 500}
    assert all(c["predicted_log2_wd"] == pytest.approx(c["log2_wd"]) for c in summary["cells"])
    assert all(c["gain"] > 0 for c in summary["cells"])
    with pytest.raises(ValueError, match=r"base = \(8, 500\).*\(4, 125\)"):
        timescale_summary(rows, predict=calculator_ratio, bootstrap=50, base=(8, 500))


def test_cells_where_decay_does_not_help_are_left_out():
    """A cell whose loss is flat in λ has no optimum: with ``min_gain`` it is listed as flat and
    kept out of the cells and slopes; without it, its vertex would count."""

    def loss(log2_lr, batch, t, seed, log2_wd):
        if (batch, t) == (4, 125):
            return 2 + 0.001 * (log2_wd + 0.3 * seed) ** 2 / 50  # flat to 0.001 nats
        best = -log2_lr - math.log2(t) + 1.5
        return 2 + (log2_wd - best) ** 2

    rows = _sweep(loss, range(-4, 5), (125, 500))
    kept = timescale_summary(rows, bootstrap=50)
    cut = timescale_summary(rows, bootstrap=50, min_gain=0.01)
    assert (4, 125) in {(c["batch"], c["horizon"]) for c in kept["cells"]}
    assert cut["flat"] == [[4, 125]]
    assert {(c["batch"], c["horizon"]) for c in cut["cells"]} == {(4, 500), (16, 125), (16, 500)}
    assert cut["slopes"]["wd_vs_horizon"]["slope"] == pytest.approx(-1, abs=1e-6)
    assert "no optimum to fit" in timescale_markdown(cut)


def test_width_slope_of_the_optimal_decay():
    """Planted λ* that drift +0.5 octave per width doubling are recovered, pooled and per cell;
    two widths, or a cell missing at one width, are refused by name."""
    from abcparam.transfer.timescale_fit import width_slope

    def sweep(width: int) -> list[dict]:
        def loss(log2_lr, batch, t, seed, log2_wd):
            best = -2.0 + 0.5 * math.log2(width / 64) + 0.1 * (seed - 1) + (batch == 16)
            return 2 + (log2_wd - best) ** 2

        return _sweep(loss, range(-6, 4), (500, 1000))

    sweeps = {w: sweep(w) for w in (64, 128, 256)}
    out = width_slope(sweeps, [(16, 500), (4, 1000)], bootstrap=200)
    assert out["pooled"]["slope"] == pytest.approx(0.5, abs=1e-6)
    assert out["per_cell"]["16,500"]["slope"] == pytest.approx(0.5, abs=1e-6)
    assert out["pooled"]["low"] <= 0.5 <= out["pooled"]["high"]
    with pytest.raises(ValueError, match="at least 3 widths"):
        width_slope({64: sweeps[64], 128: sweeps[128]}, [(16, 500)])
    with pytest.raises(ValueError, match=r"\(64, \(16, 2000\)\)"):
        width_slope(sweeps, [(16, 2000)])


def test_lr_slope_of_the_optimal_decay():
    """Planted λ* ∝ η^-1 at batch 16 (η = 2^-7, 2^-6, 2^-5) and ∝ η^0 at batch 4 (2^-8 .. 2^-6)
    are recovered per cell, the pooled slope lies between them, and a cell swept at only two
    LRs is refused by name."""
    from abcparam.transfer.timescale_fit import lr_slope

    def sweep(batch: int, log2_lr: float) -> list[dict]:
        def loss(_, b, t, seed, log2_wd):
            best = -2.0 + 0.2 * (seed - 1) + (-(log2_lr + 6) if batch == 16 else 0.0)
            return 2 + (log2_wd - best) ** 2 + 0.001 * t

        return [
            dict(r, log2_lr=log2_lr)
            for r in _sweep(loss, [x / 2 for x in range(-12, 4)], (500, 1000))
            if r["batch"] == batch
        ]

    rows = [r for x in (-7, -6, -5) for r in sweep(16, x)]
    rows += [r for x in (-8, -7, -6) for r in sweep(4, x)]
    cells = [(16, 500), (16, 1000), (4, 1000)]
    out = lr_slope(rows, cells, bootstrap=200)
    assert out["log2_lrs"]["16,500"] == [-7.0, -6.0, -5.0]
    assert out["log2_lrs"]["4,1000"] == [-8.0, -7.0, -6.0]
    assert out["per_cell"]["16,1000"]["slope"] == pytest.approx(-1, abs=1e-6)
    assert out["per_cell"]["4,1000"]["slope"] == pytest.approx(0, abs=1e-6)
    assert -1 < out["pooled"]["slope"] < 0
    # a cell's interval is the same whichever cells are fitted beside it (a fresh generator per fit)
    alone = lr_slope(rows, [(4, 1000)], bootstrap=200)
    assert alone["pooled"]["high"] > alone["pooled"]["low"]
    assert out["per_cell"]["4,1000"] == alone["per_cell"]["4,1000"] == alone["pooled"]
    only_two = [r for r in rows if not (r["batch"] == 4 and r["log2_lr"] == -8)]
    with pytest.raises(ValueError, match=r"cell \(4, 1000\) has log2 η \[-7.0, -6.0\]"):
        lr_slope(only_two, cells)
