"""Cross-check u-muP against Graphcore's own implementation (PyPI ``unit-scaling``).

The library's modules and its Adam learning-rate scale (``unit_scaling.optim.lr_scale_func_adam``)
are measured at two widths; the implied exponents (init std n^-b, forward multiplier n^-a, LR n^-c)
must equal ``abcparam.rules("u-mup", optimizer="adam")``.
"""

import math

import pytest
import sympy
from optional import need

import abcparam

uu = need("unit_scaling")  # required when CI is set (tests/optional.py)
torch = need("torch")
from unit_scaling.optim import lr_scale_func_adam  # noqa: E402

WIDTHS = (256, 1024)


def _exponent(small: float, large: float) -> float:
    """e in value ~ n^-e, from the values at the two widths."""
    return -math.log(large / small) / math.log(WIDTHS[1] / WIDTHS[0])


def _modules(n: int):
    torch.manual_seed(0)
    return {
        "embedding": uu.Embedding(64, n),
        "hidden": uu.Linear(n, n, bias=False),
        "readout": uu.LinearReadout(n, 10, bias=False),
    }


@pytest.fixture(scope="module")
def measured():
    per_width = {}
    for n in WIDTHS:
        mods = _modules(n)
        x = torch.randn(256, n, generator=torch.Generator().manual_seed(1))
        per_width[n] = {
            kind: {
                "lr": lr_scale_func_adam(m.weight),
                "std": m.weight.std().item(),
                "out": (m(x).pow(2).mean().sqrt().item() if kind != "embedding" else None),
            }
            for kind, m in mods.items()
        }
    return per_width


@pytest.mark.parametrize("kind", ["embedding", "hidden", "readout"])
def test_unit_scaling_lr_and_init_match_derived_umup(measured, kind):
    r = abcparam.rules("u-mup", optimizer="adam")
    small, large = measured[WIDTHS[0]][kind], measured[WIDTHS[1]][kind]
    assert _exponent(small["lr"], large["lr"]) == pytest.approx(float(r[kind].c), abs=1e-9)
    assert _exponent(small["std"], large["std"]) == pytest.approx(float(r[kind].b), abs=0.03)


@pytest.mark.parametrize("kind", ["hidden", "readout"])
def test_unit_scaling_forward_multiplier_matches_a(measured, kind):
    """Output RMS of a width-n sum at init ~ n^(1/2 - a - b) (CLT): recover a."""
    r = abcparam.rules("u-mup", optimizer="adam")
    small, large = measured[WIDTHS[0]][kind], measured[WIDTHS[1]][kind]
    slope = -_exponent(small["out"], large["out"])
    implied_a = sympy.Rational(1, 2) - r[kind].b - sympy.nsimplify(round(slope * 4) / 4)
    assert abs(slope - float(sympy.Rational(1, 2) - r[kind].a - r[kind].b)) < 0.03
    assert implied_a == r[kind].a


# -- u-muP's depth rule ---------------------------------------------------------------------------
DEPTHS = (2, 8)


def _stack_lr_scales(layers: int) -> dict[str, float]:
    """unit_scaling's Adam LR scale of every parameter of a TransformerStack of ``layers``."""
    from unit_scaling._modules import TransformerStack

    torch.manual_seed(0)
    stack = TransformerStack(layers=layers, hidden_size=16, heads=2, is_causal=True)
    return {name: lr_scale_func_adam(p) for name, p in stack.named_parameters()}


def test_unit_scaling_depth_lr_scale_matches_derived_c_L():
    """``lr_scale_for_depth`` (every parameter under the depth container, LR x depth^-1/2) must
    equal the derived c_L of u-muP with its residual rule (alpha = 1/2, Adam): 1/2."""
    r = abcparam.rules("u-mup", optimizer="adam", depth=True)
    small, large = _stack_lr_scales(DEPTHS[0]), _stack_lr_scales(DEPTHS[1])
    name = next(n for n in small if n.startswith("0.") and n.endswith("weight"))
    c_L = -math.log(large[name] / small[name]) / math.log(DEPTHS[1] / DEPTHS[0])
    assert c_L == pytest.approx(float(r["hidden"].depth["c"]), abs=1e-9)


def _effective_branch_weight(index: int, layers: int) -> float:
    """The weight of residual branch ``index`` in the final stream under u-muP's rule: each
    residual_add mixes (skip + tau F) / sqrt(1 + tau^2), so branch i ends up with
    tau_i / sqrt(1 + tau_i^2) times the later skips' 1 / sqrt(1 + tau_j^2)."""
    from unit_scaling.core.functional import transformer_residual_scaling_rule

    rule = transformer_residual_scaling_rule()
    taus = [rule(i, 2 * layers) for i in range(2 * layers)]
    weight = taus[index] / math.sqrt(1 + taus[index] ** 2)
    for tau in taus[index + 1 :]:
        weight /= math.sqrt(1 + tau**2)
    return weight


@pytest.mark.parametrize("position", [0.0, 0.5, 0.99])
def test_unit_scaling_residual_rule_is_alpha_one_half(position):
    """A branch at a fixed relative depth weighs ~ L^-alpha in the final stream; the measured
    alpha between L = 256 and 1024 must be u-muP's named alpha, 1/2."""
    r = abcparam.rules("u-mup", optimizer="adam", depth=True)
    weights = [_effective_branch_weight(int(position * 2 * n), n) for n in (256, 1024)]
    alpha = -math.log(weights[1] / weights[0]) / math.log(4)
    assert alpha == pytest.approx(float(r.depth_alpha), abs=0.01)
