"""A token embedding's gradient is zero on the rows of absent tokens; the RMS Adam's epsilon
meets is over the present rows (abcparam.torch.gradient_rms)."""

import math

import torch
import torch.nn.functional as F

import abcparam
from abcparam.torch import build_model, parametrize
from abcparam.torch.gradient_rms import gradient_rms, lookup_tables, seen_entries


def test_embedding_rms_is_over_the_rows_present_in_the_batch():
    torch.manual_seed(0)
    model = build_model("transformer", 32, vocab=65, context=16)
    spec = parametrize(model, abcparam.rules("mup"), base_width=32, seed=0)
    x = torch.randint(0, 10, (2, 16))  # only tokens 0..9 of 65 appear
    y = torch.randint(0, 10, (2, 16))
    rms = gradient_rms(model, spec, x, y)
    # independent: the rows of the token and position tables actually indexed by this batch
    model.zero_grad(set_to_none=True)
    logits = model(x)
    F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).backward()
    tok = spec.tensors["embedding.weight"].grad[x.unique()]
    pos = spec.tensors["pos_embedding.weight"].grad[: x.shape[1]]
    expected = math.sqrt(
        (tok.double().pow(2).sum() + pos.double().pow(2).sum()).item() / (tok.numel() + pos.numel())
    )
    assert math.isclose(rms["embedding"], expected, rel_tol=1e-9)
    everything = torch.cat(
        [spec.tensors[n].grad.reshape(-1) for n in ("embedding.weight", "pos_embedding.weight")]
    )
    diluted = everything.double().pow(2).mean().sqrt().item()
    assert rms["embedding"] > 1.5 * diluted  # the all-entries RMS understates it


def test_dense_tensors_keep_every_entry():
    model = build_model("mlp", 16)
    assert lookup_tables(model) == set()
    g = torch.zeros(4, 3)
    g[0, 0] = 1.0  # a row of zeros in a dense matrix (a dead unit) still counts
    assert seen_entries("embedding.weight", g, set()).shape == (4, 3)
    assert seen_entries("embedding.weight", g, {"embedding.weight"}).shape == (1, 3)
