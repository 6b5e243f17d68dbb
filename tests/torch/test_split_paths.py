"""What the split of parametrize and topology discovery must keep: two public paths to the same
answer agree (the plan and the optimizer groups, the Spec table and the plan, every spelling of
a batch)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import abcparam
from abcparam.torch import GPT, MLP, discover_topology, map_parameters, param_groups, parametrize

torch.set_num_threads(1)


@pytest.mark.parametrize("scheme", ["sp", "mup", "u-mup"])
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_optimizer_groups_carry_each_planned_width_factor(scheme, optimizer):
    """Every tensor's group LR is lr x its planned lr_scale (and, with Adam, its eps eps x
    eps_scale): the plan (Spec) and the groups built from it are the same numbers."""
    model = GPT(64, n_layers=2)
    spec = parametrize(model, abcparam.rules(scheme, optimizer=optimizer), base=32, seed=0)
    lr, eps = 1e-3, 1e-8
    by_name = {p.name: p for p in spec.params}
    groups = param_groups(model, spec, lr=lr, eps=eps if optimizer == "adam" else None)
    seen = []
    for group in groups:
        for name in group["param_names"]:
            p = by_name[name]
            seen.append(name)
            assert group["lr"] == pytest.approx(lr * p.lr_scale, rel=1e-12)
            if optimizer == "adam":
                assert group["eps"] == pytest.approx(eps * p.eps_scale, rel=1e-12)
    assert sorted(seen) == sorted(by_name)
    # the table shows the same init std the plan gives each tensor
    table = spec.table()
    for p in spec.params:
        std = "kept" if p.init_std is None else f"{p.init_std:.3g}"
        assert f"| {p.name} | {p.kind} |" in table and f"| {std} |" in table


class _Keyword(nn.Module):
    """A model whose forward takes ``x`` as a positional or keyword argument."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.inp, self.hid, self.out = (
            nn.Linear(8, width),
            nn.Linear(width, width),
            nn.Linear(width, 3),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hid(torch.relu(self.inp(x)))))


def test_every_spelling_of_a_batch_gives_one_topology():
    """A tensor, a tuple or list of positional arguments and a dict of keyword arguments reach
    the model the same way (one call_model for the coordinate check and discover_topology)."""
    from abcparam.coordcheck.record import call_model as recorder_call
    from abcparam.torch.calling import call_model

    assert recorder_call is call_model
    model = _Keyword(32)
    kinds = map_parameters(model, _Keyword(16))
    x = torch.randn(4, 8)
    found = [discover_topology(model, batch, kinds).to_dict() for batch in (x, (x,), [x], {"x": x})]
    assert all(f == found[0] for f in found)
    assert [n["name"] for n in found[0]["nodes"]] == ["inp", "hid", "out"]
    with torch.no_grad():
        assert torch.equal(call_model(model, {"x": x}), call_model(model, [x]))


def test_topology_pass_leaves_the_random_state_and_modes():
    model = MLP(32)
    model.eval()
    kinds = map_parameters(model, MLP(16))
    torch.manual_seed(0)
    discover_topology(model, torch.randn(2, 32), kinds)
    after = torch.rand(3)
    torch.manual_seed(0)
    torch.randn(2, 32)
    assert torch.equal(after, torch.rand(3)) and not model.training
