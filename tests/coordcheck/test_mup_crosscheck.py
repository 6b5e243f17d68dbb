"""Cross-check with the ecosystem: PyPI mup's own coordinate check and abcparam's agree on muP."""

import numpy as np
import torch
from optional import need
from torch import nn

need("mup")  # required when CI is set (tests/optional.py)
need("pandas")
import mup  # noqa: E402
import mup.coord_check  # noqa: E402, F811

from abcparam.coordcheck import run_coord_check  # noqa: E402

WIDTHS = (64, 128, 256, 512)


class MupMLP(nn.Module):
    """The same MLP (in 32, two hidden, out 10, ReLU, no bias) in mup's TP-V Table 8 form."""

    def __init__(self, width: int):
        super().__init__()
        self.embedding = nn.Linear(32, width, bias=False)
        self.hidden0 = nn.Linear(width, width, bias=False)
        self.hidden1 = nn.Linear(width, width, bias=False)
        self.readout = mup.MuReadout(width, 10, bias=False)

    def forward(self, x):
        h = self.hidden0(torch.relu(self.embedding(x)))
        return self.readout(torch.relu(self.hidden1(torch.relu(h))))


def _lazy(width):
    def make():
        torch.manual_seed(0)
        model = MupMLP(width)
        mup.set_base_shapes(model, MupMLP(64), delta=MupMLP(128))
        for name, p in model.named_parameters():
            if "readout" not in name:
                # mup.init rescales matrix-like tensors by 1/sqrt(fan-in width multiplier), so
                # the std named here is the base model's (fan-in 64 hidden, 32 embedding)
                base_fan_in = 32 if name.startswith("embedding") else 64
                mup.init.normal_(p, std=1 / np.sqrt(base_fan_in))
        return model

    return make


def _slope(xs, ys):
    return np.polyfit(np.log(xs), np.log(ys), 1)[0]


def test_mup_package_and_abcparam_agree_on_mup_adam():
    torch.manual_seed(0)
    data = [(torch.randn(64, 32), torch.randint(0, 10, (64,)))]
    df = mup.coord_check.get_coord_data(
        {w: _lazy(w) for w in WIDTHS},
        data,
        optimizer="adam",
        lr=1e-2,
        nsteps=3,
        cuda=False,
        show_progress=False,
    )
    theirs = {}
    for module in ("hidden0", "hidden1"):
        rows = df[(df.module == module) & (df.t == 3)].sort_values("width")
        theirs[module] = _slope(rows.width.values, rows.l1.values)
    ours = run_coord_check(
        scheme="mup", optimizer="adam", widths=WIDTHS, steps=3, seeds=1, progress=False
    )
    out = {
        f["layer"]: f["measured_slope"]
        for f in ours.fits
        if f["quantity"] == "output" and f["step"] == 3
    }
    for module, layer in (("hidden0", "hidden.0"), ("hidden1", "hidden.1")):
        assert abs(theirs[module]) < 0.15, theirs  # mup's own check: flat
        assert abs(out[layer]) < 0.15, out  # ours: flat
        assert abs(theirs[module] - out[layer]) < 0.15  # and they agree
