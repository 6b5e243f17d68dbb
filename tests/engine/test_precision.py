"""Low precision: tensor-role exponents, format thresholds (checked by casting), Gaussian
fractions against samples, the munit preset, the simulated FP8 layers and the CLI."""

import json
import math

import pytest
import sympy
import torch

import abcparam
from abcparam.cli import main as cli_main
from abcparam.engine.formats import (
    FORMATS,
    crossing_width,
    get_format,
    overflow_fraction,
    underflow_fraction,
)
from abcparam.engine.optimizers.base import gradient_exponent as _eps_exponent
from abcparam.engine.precision import ROLES, predict, role_exponent, role_exponents
from abcparam.published import MUNIT

SCHEMES = ("sp", "ntp", "mfp", "mup", "u-mup", "munit")
KINDS = ("embedding", "hidden", "readout")


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("optimizer", ("adam", "sgd", "adafactor"))
def test_weight_gradient_matches_epsilon_exponent(scheme, optimizer):
    """The backward pass derived here and the epsilon exponent derived in rules.py agree."""
    r = abcparam.rules(scheme, optimizer)
    a, b = r.exponents("a"), r.exponents("b")
    for kind in KINDS:
        got = role_exponent(r, kind, "grad_weight")
        assert sympy.simplify(got + _eps_exponent(kind, a, b)) == 0, (scheme, kind, got)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_symmetry_moves_only_w_and_its_gradients(scheme):
    """Along the abc-symmetry the function is unchanged: effective weights, activations and
    activation gradients keep their exponents; w's RMS moves by n^theta, dL/dw's by n^-theta."""
    r = abcparam.rules(scheme, "adam")
    shifted = abcparam.reparametrize(r, theta={"hidden": "1/4", "readout": "-1/2"})
    for trained in (False, True):
        one, two = role_exponents(r, trained), role_exponents(shifted, trained)
        for kind in KINDS:
            t = shifted[kind].a - r[kind].a
            for role in ("effective_weight", "input", "output", "grad_output", "grad_input"):
                assert one[(kind, role)].exponent == two[(kind, role)].exponent, (kind, role)
            w1, w2 = one[(kind, "weight")].exponent, two[(kind, "weight")].exponent
            assert w2 == sympy.expand(w1 + t)
            g1, g2 = one[(kind, "grad_weight")].exponent, two[(kind, "grad_weight")].exponent
            assert g2 == sympy.expand(g1 - t)


def test_unit_scaled_weights_and_mup_logits():
    for scheme in ("u-mup", "munit"):
        r = abcparam.rules(scheme)
        assert all(role_exponent(r, k, "weight") == 0 for k in KINDS)
    sp, mup = abcparam.rules("sp"), abcparam.rules("mup")
    assert role_exponent(sp, "hidden", "weight") == sympy.Rational(-1, 2)
    assert role_exponent(mup, "readout", "output") == sympy.Rational(-1, 2)
    assert role_exponent(mup, "readout", "output", trained=True) == 0
    table = role_exponents(mup)
    for kind in KINDS:
        assert table[(kind, "adam_v")].exponent == 2 * table[(kind, "adam_sqrt_v")].exponent
    assert (("hidden", "adam_v") in role_exponents(abcparam.rules("mup", "sgd"))) is False


def test_bad_role_and_kind():
    r = abcparam.rules("mup")
    with pytest.raises(ValueError, match="accepted"):
        role_exponent(r, "hidden", "activations")
    with pytest.raises(ValueError, match="accepted"):
        role_exponent(r, "bias", "weight")


def test_munit_preset_matches_published():
    r = abcparam.rules("munit", "adam")
    for i, kind in enumerate(KINDS):
        assert r[kind].a == sympy.Rational(MUNIT["a"][i])
        assert r[kind].b == sympy.Rational(MUNIT["b"][i])
        assert r[kind].c == sympy.Rational(MUNIT["adam"][i]), kind
    assert r.regime.startswith("feature learning")
    assert abcparam.get_scheme("μnit").architecture


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_format_thresholds_by_casting(name):
    f = get_format(name)
    dtype = getattr(torch, f.torch_dtype)
    fi = torch.finfo(dtype)
    assert fi.max == f.max and fi.smallest_normal == f.min_normal

    def rt(x):
        return torch.tensor([x], dtype=torch.float64).float().to(dtype).double().item()

    assert rt(f.zero_threshold) == 0.0
    assert rt(-f.zero_threshold) == 0.0
    assert rt(f.zero_threshold * 1.01) == f.min_subnormal
    assert rt(f.min_subnormal) == f.min_subnormal
    assert rt(f.min_subnormal / 1.01) == f.min_subnormal
    assert rt(f.min_normal) == f.min_normal
    assert rt(f.max) == f.max
    beyond = rt(min(f.max * 1.5, 3.4e38))
    assert beyond == (f.max if f.saturates else math.inf)


@pytest.mark.parametrize("name,sigma", [("e4m3", 2.0**-8), ("e5m2", 2.0**-14), ("e4m3", 150.0)])
def test_gaussian_fraction_matches_samples(name, sigma):
    from abcparam.torch.precision import tensor_stats

    g = torch.Generator().manual_seed(0)
    n = 400_000
    x = torch.randn(n, generator=g, dtype=torch.float64).mul(sigma).float()
    got = tensor_stats(x, [name])[get_format(name).name]
    for which, predicted in (
        ("underflow", underflow_fraction(sigma, name)),
        ("overflow", overflow_fraction(sigma, name)),
    ):
        sd = math.sqrt(max(predicted * (1 - predicted), 1e-12) / n)
        assert abs(got[which] - predicted) < 4 * sd + 1e-5, (which, got[which], predicted)
    assert max(underflow_fraction(sigma, name), overflow_fraction(sigma, name)) > 0.001


def test_crossing_width_round_trip():
    w = crossing_width(0.1, 128, sympy.Rational(-1, 2), "e4m3", 0.01)
    assert w is not None and w > 128
    rms = 0.1 * (w / 128) ** -0.5
    assert underflow_fraction(rms, "e4m3") == pytest.approx(0.01, rel=1e-6)
    assert crossing_width(0.1, 128, 0, "e4m3") is None
    assert crossing_width(0.1, 128, sympy.Rational(1, 2), "e4m3") is None
    wo = crossing_width(10.0, 128, 1, "e4m3", 0.01, which="overflow")
    assert overflow_fraction(10.0 * wo / 128, "e4m3") == pytest.approx(0.01, rel=1e-6)
    with pytest.raises(ValueError, match="accepted"):
        get_format("fp4")


def test_predict_uses_the_power_law():
    r = abcparam.rules("sp")
    rows = predict(r, {("h", "hidden", "weight"): 0.1}, 128, [128, 512], "e4m3")
    assert rows[0].rms == pytest.approx((0.1, 0.05))
    assert rows[0].underflow[1] == pytest.approx(underflow_fraction(0.05, "e4m3"))


def test_cli_precision_given_rms(capsys):
    args = ["precision", "--scheme", "mup", "--format", "e4m3", "--grad-format", "e5m2"]
    args += ["--widths", "128,4096", "--rms", "hidden.weight=0.088,hidden.grad_output=1e-3"]
    assert cli_main(args + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {row["role"]: row for row in out["rows"]}
    assert rows["grad_output"]["format"] == "e5m2" and rows["weight"]["format"] == "e4m3"
    assert rows["grad_output"]["exponent"] == "-1"
    assert rows["grad_output"]["underflow"][1] > rows["grad_output"]["underflow"][0]
    assert cli_main(args) == 0
    assert "hidden" in capsys.readouterr().out
    bad = ["precision", "--scheme", "mup", "--format", "fp4", "--rms", "hidden.weight=1"]
    assert cli_main(bad) == 2  # one line on stderr naming the accepted formats, no traceback
    assert "accepted" in capsys.readouterr().err


def test_cli_precision_measured(capsys):
    args = ["precision", "--scheme", "u-mup", "--widths", "128,1024", "--roles", "weight,input"]
    assert cli_main(args + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {row["role"] for row in out["rows"]} == {"weight", "input"}
    weights = [row["rms_base"] for row in out["rows"] if row["role"] == "weight"]
    assert all(0.9 < w < 1.1 for w in weights)  # unit-scaled constants


def test_unit_scale_keeps_the_trajectory_and_quantized_matmul():
    import torch.nn.functional as F

    from abcparam.torch import MLP, build_optimizer, parametrize
    from abcparam.torch.lowp import QuantizedMatmul, quantize_hidden, unit_scale
    from abcparam.torch.precision import cast

    def losses(us, quant=False):
        torch.manual_seed(0)
        m = MLP(64)
        spec = parametrize(m, abcparam.rules("u-mup"), base_width=32, seed=0)
        if us:
            unit_scale(m, spec)
        if quant:
            assert quantize_hidden(m) == 2
        opt = build_optimizer(m, spec, lr=1e-2)
        g = torch.Generator().manual_seed(1)
        out = []
        for _ in range(4):
            x, y = torch.randn(8, 32, generator=g), torch.randint(0, 10, (8,), generator=g)
            loss = F.cross_entropy(m(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            out.append(loss.item())
        return out

    assert losses(False) == pytest.approx(losses(True), rel=1e-5)
    q = losses(True, quant=True)
    assert all(math.isfinite(v) for v in q) and q != losses(True)
    x = torch.randn(5, 7, requires_grad=True)
    w = torch.randn(3, 7, requires_grad=True)
    y = QuantizedMatmul.apply(x, w, "e4m3", "e5m2")
    assert torch.equal(y, cast(x, "e4m3") @ cast(w, "e4m3").t())
    gy = torch.randn(5, 3)
    y.backward(gy)
    assert torch.allclose(x.grad, cast(gy, "e5m2") @ cast(w, "e4m3"))
    assert torch.allclose(w.grad, cast(gy, "e5m2").t() @ cast(x, "e4m3"))


def test_res_post_ln_gpt_runs():
    from abcparam.torch.precision import build

    model, spec = build("transformer", 64, abcparam.rules("munit"), 32, vocab=20, context=8)
    assert hasattr(model.blocks[0], "post1") and not hasattr(model.blocks[0], "ln1")
    names = {p.name for p in spec.params}
    assert "blocks.0.post1.weight" in names
    out = model(torch.randint(0, 20, (2, 8)))
    assert out.shape == (2, 8, 20) and torch.isfinite(out).all()
    assert set(ROLES) >= {"weight", "grad_output", "adam_v"}


def test_attention_query_key_gradients_carry_the_logit_scale():
    """q and k pass their gradient through d_head^-x: shift 1/2 - x (0 for SP's 1/sqrt(d))."""
    for scheme in ("sp", "mup", "u-mup"):
        r = abcparam.rules(scheme)
        plain, qk = role_exponents(r), role_exponents(r, attention="qk")
        shift = sympy.Rational(1, 2) - r.attention_logit_exponent
        for role in ("grad_output", "grad_weight", "adam_sqrt_v"):
            assert qk[("hidden", role)].exponent == plain[("hidden", role)].exponent + shift
        assert qk[("hidden", "grad_input")].exponent == plain[("hidden", "grad_input")].exponent
        assert qk[("readout", "grad_output")].exponent == plain[("readout", "grad_output")].exponent
    assert role_exponent(abcparam.rules("mup"), "hidden", "grad_output") == -1
    with pytest.raises(ValueError, match="accepted"):
        role_exponents(abcparam.rules("mup"), attention="v")


def test_grad_matmul_is_what_a_static_scale_passes_back():
    """The FP8 matmul sees n^-a x grad_output: the unit-scaled schemes' hidden n^-3/2, SP's n^-1/2;
    along the abc-symmetry it moves like the weight gradient (by -theta)."""
    for scheme, expected in (("sp", "-1/2"), ("mup", "-1"), ("u-mup", "-3/2"), ("munit", "-3/2")):
        r = abcparam.rules(scheme)
        assert role_exponent(r, "hidden", "grad_matmul") == sympy.Rational(expected)
    r = abcparam.rules("mup")
    shifted = abcparam.reparametrize(r, theta={"hidden": "1/2"})
    one, two = role_exponents(r), role_exponents(shifted)
    g1, g2 = one[("hidden", "grad_matmul")].exponent, two[("hidden", "grad_matmul")].exponent
    assert g2 == g1 - sympy.Rational(1, 2)
