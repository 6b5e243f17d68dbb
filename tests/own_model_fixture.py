"""A user's own model and batch, importable as ``own_model_fixture:make`` (CLI test)."""

import torch
from torch import nn


def make(width: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(16, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 10)
    )


def batch(seed: int):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(32, 16, generator=g), torch.randint(0, 10, (32,), generator=g)


def no_seed():
    return batch(0)
