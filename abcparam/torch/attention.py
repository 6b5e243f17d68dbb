"""The attention logit scale of any attention module: ``q.k * s`` with ``s ~ d_head^-x``.

``x = rules.attention_logit_exponent`` (TP-V Def. 4.1: x = 1 when q and k become correlated, 1/2
while they stay independent).  Normalised at the base model: ``s = s0 (d / d0)^-x``, with ``s0`` the
base model's own scale at head size ``d0`` (1/sqrt(d0) by default), so the base model is unchanged
and only a head size that grows with width changes the scale.  Reached through:

- abcparam's ``Attention`` and any module with a float ``scale`` or ``scaling`` attribute and a
  head size the model states (the module's ``head_dim`` / ``d_head`` / ``head_size`` /
  ``attention_head_size``, else its config's ``head_dim`` or hidden size / heads; Hugging Face
  attention keeps ``scaling`` and passes it to its kernel; a module calling ``F.scaled_dot_product_attention(..., scale=
  self.scale)`` is reached the same way);
- BLOOM's ``inv_norm_factor`` (the ``alpha`` of its ALiBi ``baddbmm``), a scale attribute too;
- ``nn.MultiheadAttention``, which has no scale argument: its query projection (the first
  ``embed_dim`` rows of ``in_proj_weight`` and ``in_proj_bias``, or ``q_proj_weight``) is read
  through a multiplier ``s sqrt(d)``; the logits are bilinear in q, so forward and gradients equal
  those of a logit scale ``s``.
A module whose class name says attention but offers none of these is an error when the rules ask
for a scale other than 1/sqrt(d_head) (never a silently unscaled model).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sympy
from torch import nn

from ..engine.exponents import fmt
from ..engine.rules_table import Rules
from .shapes import UnsupportedLayerError


@dataclass(frozen=True)
class AttentionPlan:
    """What parametrize() sets on one attention module: ``attr`` = ``scale`` (a float attribute)
    or ``q_rows`` (MultiheadAttention's query multiplier ``factor``)."""

    name: str
    attr: str
    value: float
    head_dim: int
    base_head_dim: int
    #: the module keeps its own scale and ``factor`` = value / own went into this module's
    #: tensors (``abcparam.torch.fold``); "" when the scale is set on the module itself
    folded_into: str = ""
    factor: float = 1.0


#: the names a module gives its head size (Hugging Face: ``head_dim`` for most decoders,
#: ``head_size`` for GPT-NeoX, ``attention_head_size`` for BERT)
HEAD_SIZE_ATTRS = ("head_dim", "d_head", "head_size", "attention_head_size")


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _head_dim(module: nn.Module, config: Any = None) -> int | None:
    """The head size the model states: the module's own attribute, else (for a module whose
    class name says attention) its config's ``head_dim``, else hidden size / number of heads."""
    for attr in HEAD_SIZE_ATTRS:
        if _int(getattr(module, attr, None)):
            return getattr(module, attr)
    named = any(w in type(module).__name__.lower() for w in ("attention", "attn"))
    config = getattr(module, "config", None) or config
    if config is None or not named:  # a config's head size is only an attention module's
        return None
    if _int(getattr(config, "head_dim", None)):
        return config.head_dim
    hidden = next(
        (
            getattr(config, a)
            for a in ("hidden_size", "n_embd", "d_model")
            if _int(getattr(config, a, None))
        ),
        None,
    )
    heads = next(
        (
            getattr(config, a)
            for a in ("num_attention_heads", "n_head", "num_heads")
            if _int(getattr(config, a, None))
        ),
        None,
    )
    if hidden and heads and hidden % heads == 0:
        return hidden // heads
    return None


#: float attributes through which a module's forward reads its logit scale (BLOOM passes
#: ``inv_norm_factor`` as ``alpha`` of the ``baddbmm`` that adds its ALiBi bias to q.k)
SCALE_ATTRS = ("scaling", "scale", "inv_norm_factor")


def _scale_attr(module: nn.Module) -> str | None:
    for attr in SCALE_ATTRS:
        value = getattr(module, attr, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if attr == "inv_norm_factor" and not _alibi(module):
                continue  # Falcon without ALiBi: the attribute never reaches the logits
            return attr
    return None


def _alibi(module: nn.Module) -> bool:
    """Whether the module's logits go through its ALiBi path, the one that reads
    ``inv_norm_factor``: always in BLOOM (no ``alibi`` switch), in Falcon only with
    ``config.alibi`` (its rotary path calls scaled_dot_product_attention at 1/sqrt(head_dim))."""
    config = getattr(module, "config", None)
    return getattr(config, "alibi", True) is not False


def _unsupported_why(module: nn.Module) -> str:
    """Why an attention module's scale is out of reach, for the refusal's one line."""
    if hasattr(module, "inv_norm_factor") and not _alibi(module):
        return (
            "calls scaled_dot_product_attention at its default 1/sqrt(head_dim) (its "
            "inv_norm_factor is read only on the ALiBi path, off in this config), and its query "
            "shares one fused query_key_value weight with keys and values, whose query rows "
            "abcparam does not rescale"
        )
    return (
        "computes its logit scale inside its forward, with no float `scale`/`scaling` attribute "
        "that reaches its kernel"
    )


def plan_attention(
    model: nn.Module,
    base: nn.Module | None,
    rules: Rules,
    ratio: float,
    ignore: Sequence[str] = (),
) -> list[AttentionPlan]:
    """One :class:`AttentionPlan` per attention module of ``model``, read against ``base`` (the
    same factory at the base width; None: head sizes scale with ``ratio`` and s0 = 1/sqrt(d0))."""
    try:
        x = float(sympy.sympify(rules.attention_logit_exponent))
    except TypeError:
        raise ValueError(
            f"attention_logit_exponent = {fmt(rules.attention_logit_exponent)} is symbolic; "
            f"derive the rules with a numeric alignment to apply them"
        ) from None
    skip = [re.compile(p) for p in ignore]
    base_modules = dict(base.named_modules()) if base is not None else {}
    config = getattr(model, "config", None)
    base_config = getattr(base, "config", None) if base is not None else None
    plans, handled, unhandled = [], [], []
    for name, module in model.named_modules():
        if any(p.search(name) for p in skip):
            continue
        other = base_modules.get(name)
        if isinstance(module, nn.MultiheadAttention):
            d = module.embed_dim // module.num_heads
            d0 = other.embed_dim // other.num_heads if other is not None else round(d / ratio)
            # s = d0^-1/2 (d/d0)^-x = f / sqrt(d):  f = (d/d0)^(1/2 - x)
            plans.append(AttentionPlan(name, "q_rows", (d / d0) ** (0.5 - x), d, d0))
            handled.append(name)
            continue
        attr = _scale_attr(module)
        d = _head_dim(module, config) if attr is not None else None
        if attr is not None and d is not None:
            if other is not None:
                d0, s0 = _head_dim(other, base_config), float(getattr(other, attr))
            else:
                d0 = round(d / ratio)
                s0 = 1 / math.sqrt(d0)
            if not d0:
                raise ValueError(f"attention module {name!r} has no head size in the base model")
            plans.append(AttentionPlan(name, attr, s0 * (d / d0) ** (-x), d, d0))
            handled.append(name)
        elif "attention" in type(module).__name__.lower():
            unhandled.append((name, type(module).__name__))
    unhandled = [
        (n, t)
        for n, t in unhandled
        if not any(h.startswith(n + ".") or n.startswith(h + ".") for h in handled)
    ]
    if unhandled and x != 0.5:
        name, typ = unhandled[0]
        why = _unsupported_why(dict(model.named_modules())[name])
        raise UnsupportedLayerError(
            f"unsupported attention: {name!r} ({typ}) {why}, so parametrize cannot set "
            f"the logits q.k * d_head^-{fmt(rules.attention_logit_exponent)} the rules ask for; "
            f"supported: nn.MultiheadAttention and modules passing scale=self.scaling to their "
            f"kernel (Hugging Face Llama, GPT-2, GPT-NeoX, BERT, BLOOM's inv_norm_factor)"
        )
    return plans


@dataclass(frozen=True)
class AttentionCall:
    """One ``scaled_dot_product_attention`` call seen in a forward pass: the innermost module
    running it, the head size (the query's last dimension) and the ``scale`` it was given."""

    module: str
    head_dim: int
    scale: float | None


def _pop(stack: list[str]) -> None:
    stack.pop()


def observe_attention(model: nn.Module, example_batch: Any) -> list[AttentionCall]:
    """Every ``F.scaled_dot_product_attention`` call of one forward pass on ``example_batch``
    (no gradients; the model is put in eval mode for the pass and restored)."""
    import torch
    import torch.nn.functional as F
    from torch.overrides import TorchFunctionMode

    stack: list[str] = []
    calls: list[AttentionCall] = []

    class Watch(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func is F.scaled_dot_product_attention:
                q = args[0] if args else kwargs.get("query")
                scale = kwargs.get("scale", args[6] if len(args) > 6 else None)
                calls.append(AttentionCall(stack[-1] if stack else "", int(q.shape[-1]), scale))
            return func(*args, **kwargs)

    handles = []
    for name, module in model.named_modules():
        handles.append(module.register_forward_pre_hook(lambda m, a, n=name: stack.append(n)))
        handles.append(module.register_forward_hook(lambda m, a, o: _pop(stack), always_call=True))
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad(), Watch():
            if isinstance(example_batch, Mapping):
                model(**example_batch)
            elif isinstance(example_batch, tuple):
                model(*example_batch)
            else:
                model(example_batch)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.train(mode)
    return calls


def check_observed(
    calls: Sequence[AttentionCall], plans: Sequence[AttentionPlan], rules: Rules
) -> None:
    """Error for an attention call that no plan reaches (its module and ancestors unplanned)
    when the rules ask for a logit scale other than 1/sqrt(d_head)."""
    if float(sympy.sympify(rules.attention_logit_exponent)) == 0.5:
        return
    for call in calls:
        owners = [
            p
            for p in plans
            if not p.name or call.module == p.name or call.module.startswith(p.name + ".")
        ]
        for p in owners:
            if (
                p.attr != "q_rows"
                and call.scale is None
                and not math.isclose(p.value, call.head_dim**-0.5)
            ):
                raise ValueError(
                    f"module {call.module!r} calls scaled_dot_product_attention without scale=: "
                    f"its `{p.attr}` = {p.value:.4g} (set by parametrize) never reaches the "
                    f"kernel, which uses 1/sqrt({call.head_dim}); pass scale=self.{p.attr}"
                )
        if not owners:
            raise ValueError(
                f"module {call.module!r} calls scaled_dot_product_attention (head size "
                f"{call.head_dim}, scale={call.scale}) but parametrize cannot set its scale: the "
                f"rules ask for logits q.k * d_head^-{fmt(rules.attention_logit_exponent)}. Give "
                f"the module a float `scale` and an int `head_dim` and pass scale=self.scale"
            )
