"""Models as users write them (Hugging Face GPT-2 and Llama, a CNN, an nn.MultiheadAttention
transformer): parametrized from a base model, their graph discovered, trained with torch AdamW on
param_groups; tied embeddings under a scheme they cannot carry are refused."""

import pytest
import torch
import torch.nn.functional as F

import abcparam
from abcparam.torch import TiedWeightsError, discover_topology, param_groups, parametrize
from abcparam.torch.zoo import MODELS

torch.set_num_threads(1)


def _batch(kind: str):
    g = torch.Generator().manual_seed(0)
    if kind == "tokens":
        t = torch.randint(0, 128, (4, 17), generator=g)
        return t[:, :-1], t[:, 1:]
    return torch.randn(8, 1, 8, 8, generator=g), torch.randint(0, 10, (8,), generator=g)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_zoo_model_is_parametrized_discovered_and_trains(name):
    make, kind = MODELS[name]
    tied = name in ("hf:gpt2", "hf:llama-tied")
    x, y = _batch(kind)
    for scheme in ("sp", "mup", "u-mup"):
        rules = abcparam.rules(scheme, optimizer="adamw")
        model = make(64, layers=1) if kind == "tokens" else make(64)
        base = make(32, device="meta", **({"layers": 1} if kind == "tokens" else {}))
        if tied and scheme != "mup":  # derived: only muP's two uses agree up to the symmetry
            with pytest.raises(TiedWeightsError, match="tie_word_embeddings=False"):
                parametrize(model, rules, base=base)
            continue
        spec = parametrize(model, rules, base=base, seed=0, example_batch=x)
        topo = discover_topology(model, x, spec)
        assert topo.kinds[0] == "embedding" and topo.kinds[-1] == "readout"
        assert all(topo.parents[i] for i, k in enumerate(topo.kinds) if k != "embedding")
        opt = torch.optim.AdamW(param_groups(model, spec, lr=3e-3, weight_decay=0.1))
        losses = []
        for _ in range(3):
            out = model(x)
            out = getattr(out, "logits", out)
            loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < losses[0], (name, scheme, losses)
        again = parametrize(model, rules, base=base, seed=0, example_batch=x)  # re-applies
        assert {p.name: p.multiplier for p in again.params} == {
            p.name: p.multiplier for p in spec.params
        }
        assert len(discover_topology(model, x, again)) == len(topo)
