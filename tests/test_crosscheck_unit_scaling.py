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
