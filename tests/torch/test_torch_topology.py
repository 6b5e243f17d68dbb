"""Layer kinds from two widths, and the layer graph discovered from one forward pass."""

import pytest
import torch
from torch import nn

from abcparam.torch import GPT, MLP, ResidualMLP, UnmappedParameterError, map_parameters
from abcparam.torch.topology import discover_topology

torch.set_num_threads(1)


def _llama(width: int, vocab: int = 512):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        hidden_size=width,
        intermediate_size=2 * width,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        vocab_size=vocab,
        tie_word_embeddings=False,
    )
    with torch.device("meta"):
        return LlamaForCausalLM(config)


def test_llama_head_is_a_readout_at_every_width():
    """Divisibility said hidden at width 128 (512 = 4 x 128) and readout at 1024."""
    for width in (128, 1024):
        kinds = map_parameters(_llama(width), _llama(width // 2))
        assert kinds["lm_head.weight"] == "readout"
        assert kinds["model.embed_tokens.weight"] == "embedding"
        assert kinds["model.layers.0.mlp.down_proj.weight"] == "hidden"
        assert kinds["model.norm.weight"] == "norm"


class _ImageMLP(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.pos = nn.Parameter(torch.zeros(32, width))
        self.inp = nn.Linear(3072, width)
        self.hid = nn.Linear(width, width)
        self.head = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x.flatten(1)) + self.pos[: x.shape[0]]
        return self.head(torch.relu(self.hid(torch.relu(h))))


def test_image_input_positional_table_and_head_bias_are_mapped():
    kinds = map_parameters(_ImageMLP(128), _ImageMLP(64))
    assert kinds == {
        "pos": "embedding",  # a (32, n) table: only its feature dimension grows
        "inp.weight": "embedding",  # Linear(3072, n): fan-in fixed, whatever the width
        "inp.bias": "bias",
        "hid.weight": "hidden",
        "hid.bias": "bias",
        "head.weight": "readout",
        "head.bias": "scalar",  # nothing grows: width-independent
    }


def test_conv_kinds_count_channels_and_kernel():
    def cnn(width):
        return nn.Sequential(
            nn.Conv2d(3, width, 3), nn.Conv2d(width, width, 3), nn.BatchNorm2d(width)
        )

    kinds = map_parameters(cnn(32), cnn(16))
    assert kinds["0.weight"] == "embedding" and kinds["1.weight"] == "hidden"
    assert kinds["2.weight"] == "norm" and kinds["2.bias"] == "bias"


def test_base_model_with_other_parameters_is_rejected():
    with pytest.raises(ValueError, match="same parameters"):
        map_parameters(MLP(64), GPT(32))
    with pytest.raises(TypeError, match="base=make"):
        map_parameters(MLP(64), 32)
    with pytest.raises(ValueError, match="not a layer kind; accepted"):
        map_parameters(MLP(64), MLP(32), layer_map={"readout": "head"})


def test_growing_vocabulary_of_an_embedding_is_unmapped():
    with pytest.raises(UnmappedParameterError, match=r"'weight'.*layer_map"):
        map_parameters(nn.Embedding(64, 8), nn.Embedding(32, 8))


def test_gpt_topology_is_its_residual_stream():
    """q, k, v, fc1 and the readout read the residual stream (both embeddings plus every earlier
    o and fc2); o reads q, k, v; fc2 reads fc1."""
    gpt = GPT(64, n_layers=2)
    topo = discover_topology(gpt, torch.randint(0, 65, (2, 8)), map_parameters(gpt, GPT(32)))
    block = [f"attn.{m}" for m in "qkvo"] + ["mlp.fc1", "mlp.fc2"]
    expected = ["embedding", "pos_embedding"] + [f"blocks.{i}.{m}" for i in (0, 1) for m in block]
    assert list(topo.names) == expected + ["readout"]
    assert topo.kinds == ("embedding",) * 2 + ("hidden",) * 12 + ("readout",)
    stream = {"embedding", "pos_embedding"}
    for i in (0, 1):
        for m in "qkv":
            assert {
                topo.names[j] for j in topo.parents[topo.index(f"blocks.{i}.attn.{m}")]
            } == stream
        o = topo.parents[topo.index(f"blocks.{i}.attn.o")]
        assert {topo.names[j] for j in o} == {f"blocks.{i}.attn.{m}" for m in "qkv"}
        stream = stream | {f"blocks.{i}.attn.o"}
        assert {topo.names[j] for j in topo.parents[topo.index(f"blocks.{i}.mlp.fc1")]} == stream
        fc2 = topo.parents[topo.index(f"blocks.{i}.mlp.fc2")]
        assert [topo.names[j] for j in fc2] == [f"blocks.{i}.mlp.fc1"]
        stream = stream | {f"blocks.{i}.mlp.fc2"}
    assert {topo.names[j] for j in topo.parents[-1]} == stream
    assert topo.parents[topo.index("pos_embedding")] == ()


def _mlp_graph(depth: int) -> list[tuple[str, str, set[str]]]:
    """(name, kind, parent names): each layer reads the one before it."""
    names = ["embedding"] + [f"hidden.{i}" for i in range(depth)] + ["readout"]
    kinds = ["embedding"] + ["hidden"] * depth + ["readout"]
    return [(n, k, set(names[i - 1 : i])) for i, (n, k) in enumerate(zip(names, kinds))]


def _residual_graph(depth: int) -> list[tuple[str, str, set[str]]]:
    """fc1 and the readout read the normalised stream (the embedding plus every earlier fc2);
    fc2 reads fc1."""
    out, stream = [("embedding", "embedding", set())], {"embedding"}
    for i in range(depth):
        out += [
            (f"blocks.{i}.fc1", "hidden", set(stream)),
            (f"blocks.{i}.fc2", "hidden", {f"blocks.{i}.fc1"}),
        ]
        stream.add(f"blocks.{i}.fc2")
    return out + [("readout", "readout", stream)]


def _gpt_graph(depth: int, positional: bool = True) -> list[tuple[str, str, set[str]]]:
    """q, k, v, fc1 and the readout read the stream (the embeddings plus every earlier o and
    fc2); o reads q, k, v; fc2 reads fc1.  ``positional=False``: the graph the GPT's removed
    hand-written ``chain()``/``parents()`` gave, which left out the positional table."""
    roots = ["embedding"] + ["pos_embedding"] * positional
    out, stream = [(r, "embedding", set()) for r in roots], set(roots)
    for i in range(depth):
        b = f"blocks.{i}"
        out += [(f"{b}.attn.{m}", "hidden", set(stream)) for m in "qkv"]
        out.append((f"{b}.attn.o", "hidden", {f"{b}.attn.{m}" for m in "qkv"}))
        stream.add(f"{b}.attn.o")
        out.append((f"{b}.mlp.fc1", "hidden", set(stream)))
        out.append((f"{b}.mlp.fc2", "hidden", {f"{b}.mlp.fc1"}))
        stream.add(f"{b}.mlp.fc2")
    return out + [("readout", "readout", stream)]


def _as_graph(topo) -> list[tuple[str, str, set[str]]]:
    return [
        (n, k, {topo.names[j] for j in p}) for n, k, p in zip(topo.names, topo.kinds, topo.parents)
    ]


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize(
    "model, key, batch, expected",
    [
        (MLP, "depth", lambda: torch.randn(4, 32), _mlp_graph),
        (ResidualMLP, "depth", lambda: torch.randn(4, 32), _residual_graph),
        (GPT, "n_layers", lambda: torch.randint(0, 65, (2, 8)), _gpt_graph),
    ],
    ids=["mlp", "residual_mlp", "gpt"],
)
def test_builtin_models_discovered_graph_is_their_structure(model, key, batch, expected, depth):
    """The discovered graph of each built-in model, in forward order, is the one its structure
    implies (what the removed hand-written chain()/parents() said, plus the GPT's positional
    table, which they left out)."""
    net = model(16, **{key: depth})
    topo = discover_topology(net, batch(), map_parameters(net))
    assert _as_graph(topo) == expected(depth)
    assert all(list(topo.parents[i]) == sorted(p) for i, p in enumerate(topo.parents))
    assert all(max(p, default=-1) < i for i, p in enumerate(topo.parents))  # forward order
    if model is GPT:  # dropping the positional table gives the old hand-written graph exactly
        old = [(n, k, ps - {"pos_embedding"}) for n, k, ps in _as_graph(topo)]
        assert [g for g in old if g[0] != "pos_embedding"] == _gpt_graph(depth, False)


def test_mlp_topology_is_a_chain_and_raw_table_is_a_root():
    mlp = MLP(64)
    topo = discover_topology(mlp, torch.randn(4, 32), map_parameters(mlp, MLP(32)))
    assert topo.names == ("embedding", "hidden.0", "hidden.1", "readout")
    assert topo.parents == ((), (0,), (1,), (2,))
    model = _ImageMLP(64)
    topo = discover_topology(model, torch.randn(4, 3, 32, 32), map_parameters(model, _ImageMLP(32)))
    assert set(topo.names) == {"inp", "pos", "hid", "head"}
    assert topo.parents[topo.index("pos")] == ()
    assert {topo.names[j] for j in topo.parents[topo.index("hid")]} == {"inp", "pos"}


def test_multihead_attention_is_one_node_reading_the_stream():
    class Block(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.emb = nn.Embedding(16, width)
            self.attn = nn.MultiheadAttention(width, 2, batch_first=True)
            self.head = nn.Linear(width, 16)

        def forward(self, idx):
            x = self.emb(idx)
            x = x + self.attn(x, x, x, need_weights=False)[0]
            return self.head(x)

    model = Block(32)
    topo = discover_topology(model, torch.randint(0, 16, (2, 5)), map_parameters(model, Block(16)))
    assert topo.names == ("emb", "attn", "head")
    assert topo.parents == ((), (0,), (0, 1))
    assert topo.unused == ("attn.out_proj",)  # its weight is used inside attn's own forward


def test_predictor_reads_the_topology():
    """predict_slopes(rules, topology) = predict_slopes(rules, kinds, parents=...)."""
    import abcparam
    from abcparam.engine.predict import predict_slopes

    gpt = GPT(64)
    topo = discover_topology(gpt, torch.randint(0, 65, (2, 8)), map_parameters(gpt, GPT(32)))
    rules = abcparam.rules("mup")
    direct = predict_slopes(rules, list(topo.kinds), parents=topo.parent_lists())
    assert predict_slopes(rules, topo) == direct
    assert [p["delta"] for p in direct] == [0] * len(topo)  # muP: every layer moves by Theta(1)


def test_discovery_leaves_no_trace():
    """Batch-norm statistics and the random stream are as before the discovery pass."""
    from abcparam.torch.zoo import cnn

    model = cnn(16)
    kinds = map_parameters(model, cnn(8))
    stats = model.norm.running_mean.clone()
    torch.manual_seed(0)
    discover_topology(model, torch.randn(4, 1, 8, 8), kinds)
    after = torch.rand(3)
    torch.manual_seed(0)
    torch.randn(4, 1, 8, 8)
    assert torch.equal(model.norm.running_mean, stats) and torch.equal(after, torch.rand(3))
