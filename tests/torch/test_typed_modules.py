"""The typed containers and checks that replaced attribute-setting on plain modules."""

import pytest
import torch
from torch import nn

from abcparam.torch.checkpoint import restore
from abcparam.torch.layers import ResidualBranch
from abcparam.torch.lora import LoraLinear, _set_scaling
from abcparam.torch.models import GPT, MLPBranch, ResidualMLP


def test_gpt_mlp_branch_keeps_its_names():
    model = GPT(16, n_layers=1)
    assert isinstance(model.blocks[0].mlp, MLPBranch)
    keys = set(model.state_dict())
    assert {"blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc2.weight"} <= keys
    assert not any(k.startswith("blocks.0.mlp.") and k.count(".") != 4 for k in keys)


def test_restore_sets_branch_multiplier_of_residual_blocks():
    model = ResidualMLP(8, depth=2)
    assert isinstance(model.blocks[1], ResidualBranch)
    restore(model, {"branch": {"blocks.1": 0.5}})
    assert model.blocks[1].branch_multiplier == 0.5
    assert model.blocks[0].branch_multiplier == 1.0


def test_restore_refuses_branch_on_a_module_without_one():
    model = ResidualMLP(8, depth=2)
    with pytest.raises(ValueError, match="'embedding' has no branch_multiplier"):
        restore(model, {"branch": {"embedding": 0.5}})


def test_set_scaling_builtin_and_refusal():
    layer = LoraLinear(nn.Linear(4, 3), rank=2)
    _set_scaling(layer, 0.25)
    assert layer.scaling == 0.25
    x = torch.randn(2, 4)
    assert torch.allclose(layer(x), layer.base_layer(x) + 0.25 * layer.lora_B(layer.lora_A(x)))
    with pytest.raises(TypeError, match="Linear is no LoRA-adapted layer"):
        _set_scaling(nn.Linear(4, 3), 0.5)
