"""The torch-side optimizer registry (abcparam.torch.optim.TORCH_OPTIMIZERS) is the one place an
engine optimizer meets torch: every engine name has an entry, builds, and the groups that
param_groups makes feed make_optimizer and build_optimizer under one key convention ("kinds")."""

import pytest
import torch

import abcparam
from abcparam.engine.optimizers import OPTIMIZERS
from abcparam.torch import build_model, build_optimizer, param_groups, parametrize
from abcparam.torch.optim import (
    TORCH_OPTIMIZERS,
    OptimizerList,
    default_eps,
    group_eps,
    make_optimizer,
)


def test_every_engine_optimizer_has_one_torch_entry():
    assert set(TORCH_OPTIMIZERS) == set(OPTIMIZERS)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_entry_builds_and_steps(name):
    w = torch.nn.Parameter(torch.randn(4, 3))
    opt = make_optimizer(name, [{"params": [w], "kinds": ["hidden"]}], lr=1e-3)
    assert isinstance(opt, TORCH_OPTIMIZERS[name].cls)
    before = w.detach().clone()
    w.grad = torch.randn_like(w)
    opt.step()
    assert not torch.equal(before, w.detach())


def test_default_eps_comes_from_the_registry():
    assert default_eps("adam") == TORCH_OPTIMIZERS["adam"].default_eps == 1e-8
    assert default_eps("adafactor") == torch.finfo(torch.float32).eps
    assert group_eps("adafactor", 1e-6) == (1e-6, 1e-3)
    assert group_eps("adamw", 1e-6) == 1e-6


def test_adafactor_groups_scale_the_registry_default():
    torch.manual_seed(0)
    model = build_model("mlp", width=64)
    spec = parametrize(model, abcparam.rules("mup", optimizer="adafactor"), base_width=32)
    groups = param_groups(model, spec, lr=1e-2)
    firsts = {g["eps"][0] / default_eps("adafactor") for g in groups}
    assert {g["eps"][1] for g in groups} == {1e-3}
    assert any(abs(f - 1.0) > 1e-9 for f in firsts)  # some kind's epsilon scales with width


def test_plan_groups_name_their_kinds_and_split_by_optimizer():
    torch.manual_seed(0)
    model = build_model("mlp", width=64)
    rules = abcparam.rules("mup", optimizer="hidden=muon,default=adamw")
    spec = parametrize(model, rules, base_width=32)
    opt = build_optimizer(model, spec, lr=1e-2)
    assert isinstance(opt, OptimizerList)
    by_class = {type(o).__name__: o for o in opt.optimizers}
    assert set(by_class) == {"Muon", "AdamW"}
    assert {k for g in by_class["Muon"].param_groups for k in g["kinds"]} == {"hidden"}
    # the same groups through make_optimizer give the same split
    again = make_optimizer(spec.rules.optimizer, [dict(g) for g in opt.param_groups], lr=1e-2)
    assert [type(o).__name__ for o in again.optimizers] == [
        type(o).__name__ for o in opt.optimizers
    ]
