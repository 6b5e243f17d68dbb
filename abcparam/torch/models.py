"""Built-in models for coordinate checks and transfer: an MLP and a GPT-style decoder.

Both are written in Everett et al. 2024's one-width form: every width-n dimension is ``width``
(times a fixed ratio), every other dimension is fixed, so each weight is an embedding, hidden or
readout layer.  Module names are stable (the coordinate check keys results by them).  None
writes out its graph: the coordinate checks and the slope predictor read the one discovered
from a forward pass (:func:`abcparam.torch.discover_topology`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ScaledEmbedding, ScaledLayerNorm, ScaledLinear

#: the activations a built-in model takes, by name
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": F.relu,
    "gelu": F.gelu,
    "tanh": torch.tanh,
    "silu": F.silu,
    "identity": lambda x: x,
}


class _AtWidth:
    """Built-in models rebuild themselves at another width (the base model that layer kinds and
    attention head sizes are compared with), on the meta device: shapes only, no memory."""

    config: dict

    def at_width(self, width: int, device: str | torch.device = "meta") -> nn.Module:
        with torch.device(device):
            # call-arg: the mixin has no constructor of its own; the model class mixing it in
            # takes (width, **config)
            model = type(self)(width, **self.config)  # type: ignore[call-arg]
            assert isinstance(model, nn.Module)
            return model


class MLP(_AtWidth, nn.Module):
    """``embedding`` (in -> n), ``hidden.0 .. hidden.{depth-1}`` (n -> n), ``readout`` (n -> out)."""

    def __init__(
        self,
        width: int,
        depth: int = 2,
        in_dim: int = 32,
        out_dim: int = 10,
        activation: str = "relu",
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.config = dict(
            depth=depth, in_dim=in_dim, out_dim=out_dim, activation=activation, bias=bias
        )
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; accepted: {', '.join(ACTIVATIONS)}"
            )
        self.width, self.depth, self.activation = width, depth, activation
        self.embedding = ScaledLinear(in_dim, width, bias=bias, kind="embedding")
        self.hidden = nn.ModuleList(
            ScaledLinear(width, width, bias=bias, kind="hidden") for _ in range(depth)
        )
        self.readout = ScaledLinear(width, out_dim, bias=False, kind="readout")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = ACTIVATIONS[self.activation]
        h = self.embedding(x)
        for layer in self.hidden:
            h = layer(act(h))
        return self.readout(act(h))


class ResidualBlock(nn.Module):
    """Pre-LN residual MLP block: ``x + branch_multiplier * fc2(act(fc1(ln(x))))``.

    ``branch_multiplier`` is L^-alpha relative to the base depth, set by parametrize() from
    ``rules.branch_multiplier`` (TP-VI Sec. 6.3; CompleteP Sec. 3); 1 without depth rules."""

    def __init__(self, width: int, activation: str = "relu") -> None:
        super().__init__()
        self.ln = ScaledLayerNorm(width)
        self.fc1 = ScaledLinear(width, width, kind="hidden")
        self.fc2 = ScaledLinear(width, width, kind="hidden")
        self.activation = activation
        self.branch_multiplier = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.fc2(ACTIVATIONS[self.activation](self.fc1(self.ln(x))))
        return x + self.branch_multiplier * branch


class ResidualMLP(_AtWidth, nn.Module):
    """``embedding`` (in -> n), ``depth`` pre-LN residual blocks ``blocks.i`` (fc1, fc2: n -> n),
    final ``ln_f``, ``readout`` (n -> out): the residual stream of the depth checks."""

    def __init__(
        self,
        width: int,
        depth: int = 2,
        in_dim: int = 32,
        out_dim: int = 10,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.config = dict(depth=depth, in_dim=in_dim, out_dim=out_dim, activation=activation)
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; accepted: {', '.join(ACTIVATIONS)}"
            )
        if depth < 1:
            raise ValueError(f"depth = {depth}: a residual MLP needs at least one block")
        self.width, self.depth = width, depth
        self.embedding = ScaledLinear(in_dim, width, kind="embedding")
        self.blocks = nn.ModuleList(ResidualBlock(width, activation) for _ in range(depth))
        self.ln_f = ScaledLayerNorm(width)
        self.readout = ScaledLinear(width, out_dim, kind="readout")

    @property
    def n_blocks(self) -> int:
        return self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embedding(x)
        for block in self.blocks:
            h = block(h)
        return self.readout(self.ln_f(h))


class Attention(nn.Module):
    """Causal self-attention with logits ``q.k * scale``; ``scale`` is set by parametrize()
    (d_head^-x, x = rules.attention_logit_exponent; TP-V Def. 4.1 uses x = 1).

    ``qk_layernorm``: queries and keys layer-normalised per head before the product, the fix for
    attention-logit growth (Wortsman et al. 2023, Sec. 3.1.1).  With ``track_logits = True`` each
    forward stores the largest causal logit |q.k * scale| in ``max_logit`` (their Fig. 1 quantity).
    """

    def __init__(self, width: int, n_heads: int, qk_layernorm: bool = False) -> None:
        super().__init__()
        if width % n_heads:
            raise ValueError(f"width {width} is not a multiple of n_heads {n_heads}")
        self.n_heads, self.d_head = n_heads, width // n_heads
        self.q, self.k, self.v, self.o = (
            ScaledLinear(width, width, kind="hidden") for _ in range(4)
        )
        self.scale = 1 / math.sqrt(self.d_head)
        self.q_ln = ScaledLayerNorm(self.d_head) if qk_layernorm else None
        self.k_ln = ScaledLayerNorm(self.d_head) if qk_layernorm else None
        self.track_logits = False
        self.max_logit = math.nan

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        split = lambda t: t.view(B, T, self.n_heads, self.d_head).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        if self.q_ln is not None and self.k_ln is not None:
            q, k = self.q_ln(q), self.k_ln(k)
        if self.track_logits:
            with torch.no_grad():
                logits = (q @ k.transpose(-1, -2)).abs() * self.scale
                causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
                self.max_logit = float(logits.masked_fill(~causal, 0).amax())
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
        return self.o(y.transpose(1, 2).reshape(B, T, C))


class MLPBranch(nn.Module):
    """The transformer block's MLP branch: a container of ``fc1`` (n -> ratio n) and ``fc2``
    (ratio n -> n), applied by :class:`Block` itself (no forward of its own, so the module names
    ``mlp.fc1`` / ``mlp.fc2`` and the recorded layers are those of the bare layers)."""

    def __init__(self, width: int, mlp_ratio: int) -> None:
        super().__init__()
        self.fc1 = ScaledLinear(width, mlp_ratio * width, kind="hidden")
        self.fc2 = ScaledLinear(mlp_ratio * width, width, kind="hidden")


class Block(nn.Module):
    """Pre-LN transformer block: x + m attn(ln1 x), then x + m mlp(ln2 x), with the residual
    branch multiplier m = L^-alpha set by parametrize() (1 without depth rules)."""

    def __init__(
        self, width: int, n_heads: int, mlp_ratio: int, qk_layernorm: bool = False
    ) -> None:
        super().__init__()
        self.ln1, self.ln2 = ScaledLayerNorm(width), ScaledLayerNorm(width)
        self.attn = Attention(width, n_heads, qk_layernorm)
        self.mlp = MLPBranch(width, mlp_ratio)
        self.branch_multiplier = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.branch_multiplier
        x = x + m * self.attn(self.ln1(x))
        return x + m * self.mlp.fc2(F.gelu(self.mlp.fc1(self.ln2(x))))


class GPT(_AtWidth, nn.Module):
    """Decoder-only transformer: token + position embeddings, pre-LN blocks, final norm, readout.

    The head count is fixed, so the head dimension grows with width (TP-V App. D).
    ``qk_layernorm=True`` normalises queries and keys per head (Wortsman et al. 2023)."""

    def __init__(
        self,
        width: int,
        n_layers: int = 2,
        n_heads: int = 4,
        vocab: int = 65,
        context: int = 64,
        mlp_ratio: int = 4,
        qk_layernorm: bool = False,
    ) -> None:
        super().__init__()
        self.config = dict(
            n_layers=n_layers,
            n_heads=n_heads,
            vocab=vocab,
            context=context,
            mlp_ratio=mlp_ratio,
            qk_layernorm=qk_layernorm,
        )
        self.width, self.context = width, context
        self.embedding = ScaledEmbedding(vocab, width)
        self.pos_embedding = ScaledEmbedding(context, width)
        self.blocks = nn.ModuleList(
            Block(width, n_heads, mlp_ratio, qk_layernorm) for _ in range(n_layers)
        )
        self.ln_f = ScaledLayerNorm(width)
        self.readout = ScaledLinear(width, vocab, kind="readout")

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        T = idx.shape[1]
        x = self.embedding(idx) + self.pos_embedding(torch.arange(T, device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.readout(self.ln_f(x))


#: the built-in models, by the name every command and config uses
MODELS = ("mlp", "transformer")


def build_model(name: str, width: int, **kwargs) -> nn.Module:
    """The built-in model ``name`` at ``width``: "mlp" -> :class:`MLP`, "transformer" ->
    :class:`GPT`; ``kwargs`` go to its constructor.  The one factory that coordinate checks,
    sweeps and gradient measurements build their models with."""
    if name == "mlp":
        return MLP(width, **kwargs)
    if name == "transformer":
        return GPT(width, **kwargs)
    raise ValueError(f"unknown model {name!r}; accepted: {', '.join(MODELS)}")
