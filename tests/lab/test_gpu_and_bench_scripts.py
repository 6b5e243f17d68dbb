"""The GPU script and the overhead benchmark run end to end on the CPU at tiny sizes."""

import json


def test_gpu_script_runs_end_to_end_on_cpu_at_tiny_widths(tmp_path):
    from experiments.lab.gpu_all import main

    assert main(["--tiny", "--device", "cpu", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["coordcheck"]) == {"mup"} and "provenance" in summary
    assert (tmp_path / "coordcheck_transformer_mup" / "results.json").exists()
    assert any((tmp_path / "transfer_transformer").iterdir())


def test_benchmark_script_quick(tmp_path):
    from experiments.lab.bench_coordcheck import main

    assert main(["--quick", "--repeats", "1", "--models", "mlp", "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "results.json").read_text())
    ratios = saved["results"][0]["ratios"]
    assert set(ratios) == {"record", "align", "mup", "align_vs_mup"}
    assert all(r["median"] > 0 for r in ratios.values())


def test_muon_lion_check_script_quick(tmp_path):
    """The Muon/Lion check at tiny sizes: a batch of 16 rows makes Muon's hidden update low rank,
    so its measured alignment is near 1, and the spectral view (entries follow alpha, the product
    stays) still predicts every judged fit."""
    from experiments.lab.muon_lion_coordcheck import main

    assert main(["--size", "quick", "--seeds", "1", "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert set(saved["checks"]) == {"mlp_muon_lowrank", "mlp_lion"}
    muon = saved["checks"]["mlp_muon_lowrank"]
    assert min(muon["hidden_alpha_by_step"].values()) > 0.8
    assert muon["summary"]["passed"] == muon["summary"]["fits"]
    assert (tmp_path / "muon_alignment.png").exists()


def test_tied_readout_script_quick(tmp_path):
    """At init a tied readout's own-token logit is an aligned sum (muP: slope 0) while the other
    logits are CLT sums (slope -1/2); untied, both are CLT sums."""
    from experiments.lab.tied_readout import main

    assert main(["--quick", "--out", str(tmp_path)]) == 0
    models = json.loads((tmp_path / "results.json").read_text())["models"]
    for name, m in models.items():
        own, other = m["slopes"]["own"]["slope"], m["slopes"]["other"]["slope"]
        assert abs(other + 0.5) < 0.1, name
        assert abs(own - (0.0 if m["tied"] else -0.5)) < 0.1, name


def test_lion_real_data_script_quick(tmp_path):
    """Fresh-batch checks of a user factory on real text and on random tokens: each step's Lion
    and Adam update entries at step 1 follow the derived n^-1 (muP hidden c = 1)."""
    from experiments.lab.lion_real_data import main

    assert main(["--quick", "--out", str(tmp_path)]) == 0
    runs = json.loads((tmp_path / "summary.json").read_text())["runs"]
    assert set(runs) == {
        "lion_text",
        "lion_random",
        "adam_text",
        "adam_random",
        "lion_random_zero_readout",
    }
    for name, run in runs.items():
        if name.endswith("zero_readout"):  # no backward signal reaches the blocks at step 1
            assert run["hidden_update_slope_mean"]["1"] is None
            # an unmoved layer's alignment ratio is undefined, not a divergence
            assert run["summary"]["nonfinite"] == 0 and not run["summary"]["diverged"]
        else:
            assert abs(run["hidden_update_slope_mean"]["1"] + 1) < 0.05
    saved = json.loads((tmp_path / "lion_text" / "results.json").read_text())
    assert saved["config"]["fixed_batch"] is False
