"""Depth on the torch side: branch multipliers and depth LR/eps factors, and a fast depth
coordinate check whose slopes the engine predicts."""

import math

import pytest

import abcparam

torch = pytest.importorskip("torch")
from abcparam.coordcheck.depth import DepthCheckConfig, predict, run_depth_check  # noqa: E402
from abcparam.torch import GPT, ResidualMLP, build_optimizer, parametrize  # noqa: E402


@pytest.mark.parametrize("scheme, alpha", [("depth-mup", 0.5), ("completep", 1.0)])
def test_parametrize_sets_branch_multiplier_and_depth_lr(scheme, alpha):
    rules = abcparam.rules(scheme, optimizer="adam")
    model = ResidualMLP(16, depth=8)
    spec = parametrize(model, rules, base_width=16, base_depth=2, seed=0)
    assert all(b.branch_multiplier == pytest.approx(4**-alpha) for b in model.blocks)
    c_L, eps_L = float(rules["hidden"].depth["c"]), float(rules["hidden"].depth["eps"])
    hidden = spec.param("blocks.3.fc1.weight")
    assert hidden.lr_scale == pytest.approx(4**-c_L)
    assert hidden.eps_scale == pytest.approx(4**-eps_L)
    # outside the blocks (embedding, final LN, readout): no depth factor
    for name in ("embedding.weight", "ln_f.weight", "readout.weight"):
        assert spec.param(name).lr_scale == pytest.approx(1.0)
        assert spec.param(name).eps_scale == pytest.approx(1.0)
    # the block's LN gain is inside a block: CompleteP's "pre-LN gain LR eta m_L^(alpha - 1)"
    assert spec.param("blocks.0.ln.weight").lr_scale == pytest.approx(4**-c_L)
    opt = build_optimizer(model, spec, lr=1e-3)
    assert any(g["lr"] == pytest.approx(1e-3 * 4**-c_L) for g in opt.param_groups)


def test_gpt_blocks_take_the_branch_multiplier():
    model = GPT(16, n_layers=4, n_heads=2, vocab=11, context=8)
    parametrize(model, abcparam.rules("completep", "adam"), base_width=16, base_depth=1, seed=0)
    assert [b.branch_multiplier for b in model.blocks] == [0.25] * 4
    out = model(torch.randint(0, 11, (2, 8)))
    assert out.shape == (2, 8, 11) and torch.isfinite(out).all()


def test_depth_rules_need_a_base_depth_and_blocks():
    rules = abcparam.rules("completep", "adam")
    with pytest.raises(ValueError, match="base_depth"):
        parametrize(ResidualMLP(16, depth=2), rules, base_width=16)
    from abcparam.torch import MLP

    with pytest.raises(ValueError, match="no residual blocks"):
        parametrize(MLP(16), rules, base_width=16, base_depth=2)


def test_no_depth_rules_leave_blocks_alone():
    model = ResidualMLP(16, depth=4)
    spec = parametrize(model, abcparam.rules("mup", "adam"), base_width=16, seed=0)
    assert all(b.branch_multiplier == 1.0 for b in model.blocks)
    assert spec.param("blocks.0.fc1.weight").lr_scale == pytest.approx(1.0)


def test_predictions_separate_the_schemes():
    """No depth rule: the stream grows (sqrt(L) at init, L in training, coherent); Depth-muP and
    CompleteP: flat; their block updates fall as L^-1/2 and stay flat."""
    p = {s: predict(abcparam.rules(s, "adam"), "adam") for s in ("mup", "depth-mup", "completep")}
    assert p["mup"]["stream"] == {"out": 0.5, "delta": 1.0}
    for s in ("depth-mup", "completep"):
        assert p[s]["stream"] == {"out": 0.0, "delta": 0.0}
    assert p["depth-mup"]["last.fc2"]["update"] == -0.5
    assert p["completep"]["last.fc2"]["update"] == 0.0


@pytest.mark.parametrize("model", ["mlp", "transformer"])
def test_width_predictions_read_the_discovered_graph(model):
    """The joint grid's width slopes come from predict_slopes on the discovered graph: every
    probed layer is predicted; muP's readout starts at n^-1/2, SP's at n^0 (TP-V Table 3)."""
    from abcparam.coordcheck.depth import _width_predictions

    config = DepthCheckConfig(model=model, depths=(2, 4), widths=(8, 16), steps=1, seeds=1)
    preds = {s: _width_predictions(abcparam.rules(s, "adam"), config) for s in ("mup", "sp")}
    inner = ("fc1", "fc2") if model == "mlp" else ("o", "fc2")
    labels = {"embedding", "readout", "stream"} | {
        f"{w}.{m}" for w in ("first", "mid", "last") for m in inner
    }
    assert set(preds["mup"]) == set(preds["sp"]) == labels
    assert preds["mup"]["readout"]["init"] == -0.5 and preds["sp"]["readout"]["init"] == 0.0
    assert all(p["delta"] == 0.0 for p in preds["mup"].values())


@pytest.fixture(scope="module")
def small_check():
    config = DepthCheckConfig(
        depths=(2, 4, 8), widths=(32,), steps=2, seeds=1, lr=1e-4, tolerance=0.15
    )
    return run_depth_check(config, progress=False)


def _fit(result, scheme, layer, quantity, step):
    return next(
        f
        for f in result.fits
        if (f["scheme"], f["layer"], f["quantity"], f["step"]) == (scheme, layer, quantity, step)
    )


def test_fast_depth_check_measures_the_predicted_update_slopes(small_check):
    """Adam's first step is LR x sign: the block update's depth slope is exactly -c_L."""
    for scheme, expected in (("mup", 0.0), ("depth-mup", -0.5), ("completep", 0.0)):
        fit = _fit(small_check, scheme, "last.fc2", "update", 1)
        assert fit["slope"] == pytest.approx(expected, abs=0.02)
        assert fit["pass"]


def test_fast_depth_check_stream_grows_only_without_a_depth_rule(small_check):
    grow = _fit(small_check, "mup", "stream", "delta", 2)["slope"]
    for scheme in ("depth-mup", "completep"):
        flat = _fit(small_check, scheme, "stream", "delta", 2)["slope"]
        assert abs(flat) < 0.3 and grow > flat + 0.5
    s = small_check.summary()
    assert s["depth_fits"] > 50 and s["depth_passed"] >= 0.85 * s["depth_fits"]
    assert all(math.isfinite(f["slope"]) for f in small_check.fits)


def test_coord_check_cli_varies_depth(tmp_path, capsys):
    from abcparam.cli import main
    from abcparam.records import load_json

    args = ["coord-check", "--vary", "depth", "--depths", "2,4", "--width", "16", "--steps", "1"]
    assert main([*args, "--seeds", "1", "--out", str(tmp_path)]) in (0, 1)  # 1: a miss
    saved = load_json(tmp_path / "results.json")
    assert saved["config"]["depths"] == [2, 4] and saved["fits"]
    assert (tmp_path / "depth_check.png").exists()
    capsys.readouterr()
    assert main([*args, "--model", "cnn"]) == 2  # one stderr line, no traceback
    assert "--vary depth" in capsys.readouterr().err
